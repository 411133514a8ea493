"""Run configuration, resolved once: defaults < preset < ``--set`` overrides → frozen :class:`Config`.

``(preset name or path, ["table.key=value", ...]) → Config``. Each TOML table is one frozen dataclass:
``[model]`` → :class:`ModelConfig`, ``[dream]`` → :class:`DreamConfig`, ``[run]`` → :class:`RunConfig`.
The list of tables *is* the fields of :class:`Config`: a new table is one dataclass plus one field there.

Every construction is validated in ``__post_init__``; a bad value, an unknown table or key, or a malformed
file raises :class:`~dreamvid.errors.ConfigError` with one line saying which key, what was expected and
what was got. An int is accepted where a float is expected (and stored as float); a bool is never a number.

Schedules: the settings named in a table's ``SCHEDULED`` also take keyframes, ``"0:1.0, 90:1.3"`` (see
:mod:`dreamvid.schedule`; frames are output frames). Each keyframe value is range-checked like a plain
value; :meth:`Config.at` returns the configuration with every schedule evaluated at one frame.

Conventions: ``step_size`` is on the [0, 1] pixel scale; ``jitter``, ``smooth`` and ``max_size`` are in
pixels; ``rotate_jitter`` is in degrees; ``scale_jitter`` is a fraction (0.1 → scale 0.9 to 1.1).

A preset is a TOML file in :func:`presets_dir` (or any path ending in ``.toml``) holding the tables above
and, optionally, one top-level string ``description``.

Example:
    >>> config = load_config("classic", ["dream.steps=20", "run.device=cpu"])
    >>> config.dream.objective, config.dream.steps, config.run.device
    ('b10', 20, 'cpu')
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar, NoReturn, cast

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from dreamvid.errors import ConfigError, OutputError
from dreamvid.schedule import is_schedule, parse_schedule

__all__ = [
    "AudioConfig",
    "Config",
    "DreamConfig",
    "ModelConfig",
    "PresetInfo",
    "RunConfig",
    "config_from_dict",
    "config_to_dict",
    "list_presets",
    "load_config",
    "parse_override",
    "presets_dir",
    "resolve_preset",
    "save_config_json",
]


# --------------------------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class ModelConfig:
    """The ``[model]`` table: which network to dream with.

    Args:
        name: Model name, resolved by ``dreamvid.models``.
        weights: Path to a state-dict file; ``""`` uses the model's own weights.

    Example:
        >>> ModelConfig().name
        'efficientnet-lite0'
    """

    name: str = "efficientnet-lite0"
    weights: str = ""

    def __post_init__(self) -> None:
        _check_str(self, "name", allow_empty=False)
        _check_str(self, "weights")


@dataclass(frozen=True)
class DreamConfig:
    """The ``[dream]`` table: objective, octave pyramid, gradient ascent and its regularisers.

    Args:
        objective: Objective string (``"b10"``, ``"b12:7"``, ``"0.5*b8+b12"``, ``"class:banana"``,
            ``"guide:x.jpg"``), parsed by the engine; ``""`` means the model's default layer.
        octaves: Pyramid levels, 1 to 12.
        octave_scale: Size ratio between levels, greater than 1 and at most 4.
        steps: Gradient-ascent iterations per octave, 0 to 1000.
        step_size: Step on the [0, 1] pixel scale, greater than 0 and at most 1.
        jitter: Maximum circular roll in pixels, 0 to 512.
        smooth: Gaussian blur sigma (pixels) applied to the gradient; 0 is off; at most 20.
        tv: Total-variation prior weight, 0 to 100.
        lapnorm: Laplacian-pyramid bands the gradient is normalised over (a prior that grows large
            structure first, for dreaming from noise); 0 or 1 is off, at most 8.
        scale_jitter: Random rescale by ±this fraction each step, 0 to 0.5.
        rotate_jitter: Random rotation by ±this many degrees each step, 0 to 45.
        max_size: Longest side the dream runs at; 0 is full size, else 32 to 16384.

    All but ``lapnorm`` and ``max_size`` take schedules; the objective switches at its keyframes
    (``"0:b8, 120:b12:7,9"``) and integer settings round to the nearest integer between keyframes.

    Example:
        >>> DreamConfig(smooth=1).smooth  # an int is accepted as a float
        1.0
        >>> DreamConfig(steps="0:10, 100:20").steps
        '0:10, 100:20'
    """

    SCHEDULED: ClassVar[tuple[str, ...]] = ("objective", "octaves", "octave_scale", "steps", "step_size", "jitter",
                                            "smooth", "tv", "scale_jitter", "rotate_jitter")

    objective: str = ""
    octaves: int | str = 4
    octave_scale: float | str = 1.4
    steps: int | str = 10
    step_size: float | str = 0.01
    jitter: int | str = 32
    smooth: float | str = 0.0
    tv: float | str = 0.0
    lapnorm: int = 0
    scale_jitter: float | str = 0.0
    rotate_jitter: float | str = 0.0
    max_size: int = 0

    def __post_init__(self) -> None:
        _check_str(self, "objective")
        if is_schedule(self.objective):
            schedule = parse_schedule(self.objective, name="dream.objective")
            if schedule.numeric:
                _fail(self, "objective", "an objective (or a schedule of objectives, like \"0:b8, 120:b12\")",
                      repr(self.objective))
        _check_int(self, "octaves", 1, 12)
        _check_number(self, "octave_scale", 1, 4, above_low=True)
        _check_int(self, "steps", 0, 1000)
        _check_number(self, "step_size", 0, 1, above_low=True)
        _check_int(self, "jitter", 0, 512)
        _check_number(self, "smooth", 0, 20)
        _check_number(self, "tv", 0, 100)
        _check_int(self, "lapnorm", 0, 8)
        _check_number(self, "scale_jitter", 0, 0.5)
        _check_number(self, "rotate_jitter", 0, 45)
        max_size_expected = "0 (full size) or an integer from 32 to 16384"
        _check_int(self, "max_size", 0, 16384, expected=max_size_expected)
        if 0 < self.max_size < 32:
            _fail(self, "max_size", max_size_expected, repr(self.max_size))


_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class RunConfig:
    """The ``[run]`` table: randomness and hardware.

    Args:
        seed: Random seed, a non-negative integer.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        max_memory: Gigabytes (10⁹ bytes) one gradient step may use, 0.05 to 10 000; frames whose step
            would need more are dreamed in overlapping tiles (see :mod:`dreamvid.dream`). 0: no limit.
        threads: torch CPU threads, an integer >= 0; 0 keeps torch's default (the core count). The same
            picture dreamed with another thread count is another picture (sums in another order).

    Example:
        >>> RunConfig(device="cuda:1").device
        'cuda:1'
        >>> RunConfig(max_memory=1.5).max_memory_bytes
        1500000000
    """

    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    max_memory: float = 2.0
    threads: int = 0

    def __post_init__(self) -> None:
        _check_int(self, "seed", 0, None)
        _check_int(self, "threads", 0, None)
        _check_str(self, "device")
        if _DEVICE.fullmatch(self.device) is None:
            expected = "one of 'auto', 'cpu', 'cuda', 'cuda:N' (N = GPU index) or 'mps'"
            _fail(self, "device", expected, repr(self.device))
        _check_str(self, "precision")
        if self.precision not in _PRECISIONS:
            _fail(self, "precision", f"one of {_quoted(_PRECISIONS)}", repr(self.precision))
        _check_number(self, "max_memory", 0, 10_000)
        if 0 < self.max_memory < 0.05:
            _fail(self, "max_memory", "0 (no limit) or 0.05 to 10000 gigabytes", _show(self.max_memory))

    @property
    def max_memory_bytes(self) -> int | None:
        """``max_memory`` in bytes, or ``None`` for no limit (what :func:`dreamvid.dream.dream` takes)."""
        return round(self.max_memory * 1e9) if self.max_memory else None


_COHERENCE = ("flow", "blend", "none")
_FLOWS = ("dis", "dis-fast", "farneback", "raft")


@dataclass(frozen=True)
class VideoConfig:
    """The ``[video]`` table: how consecutive frames are tied together, and the encoding.

    Args:
        coherence: ``"flow"`` seeds each frame with the previous dream's detail moved by optical flow
            where the flow is reliable; ``"blend"`` mixes the previous dreamed frame into the current one
            (the peers' method); ``"none"`` dreams every frame on its own.
        flow: Optical-flow method: ``"dis"`` (OpenCV DIS, medium), ``"dis-fast"``, ``"farneback"``, or
            ``"raft"`` (torchvision RAFT-small; needs its weights: cached by torchvision or ``flow_weights``).
        flow_weights: RAFT state-dict file; ``""`` uses torchvision's cache.
        carry: How much of the warped previous detail seeds the next frame (δ), 0 to 1.
        blend: Weight of the raw current frame in ``blend`` mode, 0 to 1 (peers use 0.5).
        seeded_octaves: Octaves for frames seeded from the previous one, 1 to 12.
        seeded_steps: Steps per octave for seeded frames, 0 to 1000; cold frames (the first, and after
            a scene cut) use ``[dream]``'s full schedule.
        fresh_boost: On seeded frames, newly revealed pixels (where the flow is unreliable) step
            ``1 + fresh_boost`` times faster so they catch up with the carried dream, 0 to 10.
        scene_cuts: Detect cuts and restart the chain with a cold frame there.
        crf: Encoder quality for MP4/WebM (lower is better), 0 to 51.

    ``carry``, ``blend``, ``seeded_octaves``, ``seeded_steps`` and ``fresh_boost`` take schedules.

    Example:
        >>> VideoConfig(coherence="none").coherence
        'none'
    """

    SCHEDULED: ClassVar[tuple[str, ...]] = ("carry", "blend", "seeded_octaves", "seeded_steps", "fresh_boost")

    coherence: str = "flow"
    flow: str = "dis"
    flow_weights: str = ""
    carry: float | str = 1.0
    blend: float | str = 0.5
    seeded_octaves: int | str = 2
    seeded_steps: int | str = 3
    fresh_boost: float | str = 2.0
    scene_cuts: bool = True
    crf: int = 18

    def __post_init__(self) -> None:
        for key, choices in (("coherence", _COHERENCE), ("flow", _FLOWS)):
            _check_str(self, key)
            if getattr(self, key) not in choices:
                _fail(self, key, f"one of {_quoted(choices)}", repr(getattr(self, key)))
        _check_str(self, "flow_weights")
        _check_number(self, "carry", 0, 1)
        _check_number(self, "blend", 0, 1)
        _check_int(self, "seeded_octaves", 1, 12)
        _check_int(self, "seeded_steps", 0, 1000)
        _check_number(self, "fresh_boost", 0, 10)
        if not isinstance(self.scene_cuts, bool):
            _fail(self, "scene_cuts", "true or false", _typed(self.scene_cuts))
        _check_int(self, "crf", 0, 51)


@dataclass(frozen=True)
class ZoomConfig:
    """The ``[zoom]`` table: the feedback transform, frame by frame (``dreamvid zoom`` and ``dreamvid video``).

    Motion rates are per second, so a clip moves the same at any fps. The defaults are the identity (no
    motion); ``dreamvid zoom`` starts from the ``endless-zoom`` preset. In ``dreamvid zoom`` the whole
    previous frame is moved; in ``dreamvid video`` what is carried from the previous frame (its dream, and
    ``feedback`` of the whole frame) is moved, so the hallucinations drift, zoom and spin over the footage.
    Every number here takes a schedule (``"0:1.2, 90:1.5, 180:1.2"``, frames; see :mod:`dreamvid.schedule`).

    Args:
        zoom: Scale per second, > 0 (> 1 zooms in).
        rotate: Degrees per second, counter-clockwise on screen.
        shift_x: Pixels per second to the right (the velocity of the content at the centre).
        shift_y: Pixels per second down.
        center_x: Relative centre of zoom and rotation, 0 to 1.
        center_y: Relative centre of zoom and rotation, 0 to 1.
        colour: Strength of colour coherence, 0 to 1: ``dreamvid zoom`` matches each frame's LAB mean/std to
            the first dreamed frame's; ``dreamvid video`` matches the fed-back frame to the current footage.
        feedback: ``dreamvid video`` only: how much of the whole previous dreamed frame (moved by the flow
            and the transform) is mixed into the next, 0 to 1; 0 carries only the dream's detail, higher
            values trail the footage into the zoom.
        border: ``"reflect"``, ``"replicate"``, ``"wrap"`` or ``"constant"``.
        filter: Resampling filter: ``"lanczos"``, ``"cubic"`` or ``"linear"``.

    Example:
        >>> ZoomConfig(zoom="0:1.1, 60:1.3").zoom
        '0:1.1, 60:1.3'
    """

    SCHEDULED: ClassVar[tuple[str, ...]] = ("zoom", "rotate", "shift_x", "shift_y", "center_x", "center_y", "colour",
                                            "feedback")

    zoom: float | str = 1.0
    rotate: float | str = 0.0
    shift_x: float | str = 0.0
    shift_y: float | str = 0.0
    center_x: float | str = 0.5
    center_y: float | str = 0.5
    colour: float | str = 1.0
    feedback: float | str = 0.0
    border: str = "reflect"
    filter: str = "lanczos"

    def __post_init__(self) -> None:
        _check_number(self, "zoom", 0, 100, above_low=True)
        _check_number(self, "rotate", -3600, 3600)
        _check_number(self, "shift_x", -100000, 100000)
        _check_number(self, "shift_y", -100000, 100000)
        _check_number(self, "center_x", 0, 1)
        _check_number(self, "center_y", 0, 1)
        _check_number(self, "colour", 0, 1)
        _check_number(self, "feedback", 0, 1)
        for key, choices in (("border", ("reflect", "replicate", "wrap", "constant")),
                             ("filter", ("lanczos", "cubic", "linear"))):
            _check_str(self, key)
            if getattr(self, key) not in choices:
                _fail(self, key, f"one of {_quoted(choices)}", repr(getattr(self, key)))

    @property
    def moves(self) -> bool:
        """Whether the transform is anything but the identity at some frame."""
        identity = {"zoom": 1.0, "rotate": 0.0, "shift_x": 0.0, "shift_y": 0.0}
        return any(parse_schedule(getattr(self, key)).values != (value,) for key, value in identity.items())


@dataclass(frozen=True)
class AudioConfig:
    """The ``[audio]`` table: how the soundtrack drives the settings (``dreamvid video``/``zoom --audio``).

    Args:
        react: Reactions, each ``"TARGET OP EXPRESSION"`` such as ``"zoom *= 1 + 0.3 * low"`` (see
            :mod:`dreamvid.react`); applied per frame on top of the schedules. Empty: no audio analysis.
        attack: Envelope rise time constant in seconds, 0 to 10 (0 follows instantly).
        release: Envelope decay time constant in seconds, 0 to 10: how long a pulse lingers.

    Example:
        >>> AudioConfig(react=["step_size += 0.006 * onset"]).react
        ('step_size += 0.006 * onset',)
    """

    react: tuple[str, ...] = ()
    attack: float = 0.02
    release: float = 0.25

    def __post_init__(self) -> None:
        from dreamvid.react import parse_reaction

        if isinstance(self.react, list):
            object.__setattr__(self, "react", tuple(self.react))
        if not isinstance(self.react, tuple) or not all(isinstance(r, str) for r in self.react):
            _fail(self, "react", 'a list of strings like ["zoom *= 1 + 0.3 * low"]', _typed(self.react))
        for text in self.react:
            parse_reaction(text)
        _check_number(self, "attack", 0, 10)
        _check_number(self, "release", 0, 10)


_PROJECTIONS = ("auto", "flat", "equirect")
_STEREO = ("auto", "mono", "top-bottom", "left-right")
_POLES = ("faces", "weight", "none")


@dataclass(frozen=True)
class VrConfig:
    """The ``[vr]`` table: panoramic (360°) frames.

    Args:
        projection: ``"equirect"`` dreams equirectangular 360° frames without a seam (the left and right
            edges are neighbours everywhere) and with care at the poles; ``"flat"`` is an ordinary picture;
            ``"auto"`` reads the input's spherical metadata (flat when it has none).
        stereo: ``"top-bottom"`` or ``"left-right"``: the frame holds two eyes, dreamed consistently (the
            second eye is seeded with the first eye's dream moved by the disparity); ``"mono"``; ``"auto"``
            from the input's metadata (mono when it has none).
        poles: equirect only. ``"faces"`` dreams the polar caps again on square faces looking at each pole
            (no stretching there) and blends them in; ``"weight"`` only scales the step by cos(latitude) so
            the stretched poles are dreamed less; ``"none"`` dreams the frame as it is.
        metadata: write spherical metadata (V1 and V2) into MP4/MOV output of equirect renders, so players
            and YouTube show it as 360.

    Example:
        >>> VrConfig(projection="equirect", stereo="top-bottom").stereo
        'top-bottom'
    """

    projection: str = "auto"
    stereo: str = "auto"
    poles: str = "faces"
    metadata: bool = True

    def __post_init__(self) -> None:
        for key, choices in (("projection", _PROJECTIONS), ("stereo", _STEREO), ("poles", _POLES)):
            _check_str(self, key)
            if getattr(self, key) not in choices:
                _fail(self, key, f"one of {_quoted(choices)}", repr(getattr(self, key)))
        if not isinstance(self.metadata, bool):
            _fail(self, "metadata", "true or false", _typed(self.metadata))


@dataclass(frozen=True)
class Config:
    """The whole configuration: one field per TOML table, named as the table.

    Example:
        >>> Config().dream.octaves
        4
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    dream: DreamConfig = field(default_factory=DreamConfig)
    run: RunConfig = field(default_factory=RunConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    zoom: ZoomConfig = field(default_factory=ZoomConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    vr: VrConfig = field(default_factory=VrConfig)

    def __post_init__(self) -> None:
        for name, table_type in _tables().items():
            value = getattr(self, name)
            if not isinstance(value, table_type):
                raise ConfigError(f"config.{name} must be a {table_type.__name__}, got {_typed(value)}")

    def at(self, frame: float) -> Config:
        """This configuration with every schedule evaluated at ``frame`` (integer settings rounded).

        Example:
            >>> config = load_config(None, ["dream.steps='0:10, 100:20'", "dream.objective='0:b8, 50:b12'"])
            >>> config.at(25).dream.steps, config.at(25).dream.objective, config.at(50).dream.objective
            (12, 'b8', 'b12')
        """
        changes: dict[str, object] = {}
        for name in _tables():
            table = getattr(self, name)
            values: dict[str, object] = {}
            for key in getattr(table, "SCHEDULED", ()):
                text = getattr(table, key)
                if not is_schedule(text):
                    continue
                value = parse_schedule(text, name=f"{name}.{key}")(frame)
                values[key] = round(value) if _is_int_field(table, key) else value
            if values:
                changes[name] = dataclasses.replace(table, **values)
        return dataclasses.replace(self, **changes) if changes else self


@dataclass(frozen=True)
class PresetInfo:
    """A preset file and its one-line description, as listed by :func:`list_presets`."""

    name: str
    path: Path
    description: str


def _is_int_field(table: object, key: str) -> bool:
    default = next(f.default for f in fields(table) if f.name == key)  # type: ignore[arg-type]
    return isinstance(default, int) and not isinstance(default, bool)


def _tables() -> dict[str, type]:
    """Table name → dataclass, read from the fields of :class:`Config` (the one list of tables)."""
    return {f.name: cast(type, f.default_factory) for f in fields(Config)}


# ----------------------------------------------------------------------------------------- validation

_KINDS = {
    bool: "a boolean", str: "a string", int: "an integer", float: "a number", list: "a list", dict: "a table"
}


def _show(value: object) -> str:
    """A value as the user wrote it: TOML spelling for booleans, repr otherwise."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _typed(value: object) -> str:
    """A value and its kind, for messages about a wrong type: ``'4' (a string)``."""
    return f"{_show(value)} ({_KINDS.get(type(value), type(value).__name__)})"


def _quoted(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)


def _fail(table: object, key: str, expected: str, got: str) -> NoReturn:
    """Raise the one-line error for ``table.key``: ``dream.octaves must be ..., got 0``."""
    raise ConfigError(f"{_table_name(table)}.{key} must be {expected}, got {got}")


def _table_name(table: object) -> str:
    return next((n for n, t in _tables().items() if t is type(table)), type(table).__name__)


def _check_str(table: object, key: str, *, allow_empty: bool = True) -> None:
    value = getattr(table, key)
    expected = "a string" if allow_empty else "a non-empty string"
    if not isinstance(value, str):
        _fail(table, key, expected, _typed(value))
    if not value and not allow_empty:
        _fail(table, key, expected, "''")


def _check_int(table: object, key: str, low: int, high: int | None, *, expected: str = "") -> None:
    """Require an int (not a bool) in ``[low, high]``; ``high=None`` means no upper bound.

    A field in the table's ``SCHEDULED`` may also hold a schedule whose keyframe values are in range.
    """
    value = getattr(table, key)
    if not expected:
        expected = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    if _check_schedule(table, key, expected, lambda v: low <= v and (high is None or v <= high)):
        return
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(table, key, expected + _schedule_hint(table, key), _typed(value))
    if value < low or (high is not None and value > high):
        _fail(table, key, expected, repr(value))


def _check_number(table: object, key: str, low: float, high: float, *, above_low: bool = False) -> None:
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
        _fail(table, key, expected + _schedule_hint(table, key), _typed(value))
    if not in_range(value):
        _fail(table, key, expected, repr(value))
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
        _fail(table, key, f"{expected}, or a schedule of numbers", repr(value))
    for frame, number in zip(schedule.frames, schedule.values):
        if not in_range(number):  # values between keyframes lie between keyframe values
            _fail(table, key, expected, f"{number:g} at frame {frame} of {value!r}")
    return True


# ------------------------------------------------------------------------------------ merging sources


def _closest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate closest to ``word`` (difflib), or ``None`` when none is close."""
    matches = difflib.get_close_matches(word, candidates, n=1)
    return matches[0] if matches else None


def _suggest_key(table: str, key: str) -> str | None:
    """A valid ``table.key`` for a wrong one, or ``None``: the same key in another table, else the
    closest key in the same table, else the closest key anywhere. ``table`` is ``""`` outside any table.
    """
    keys = {name: [f.name for f in fields(cls)] for name, cls in _tables().items()}
    elsewhere = [name for name, names in keys.items() if key in names]
    if elsewhere:
        return f"{elsewhere[0]}.{key}"
    for name in [table] if table in keys else list(keys):
        match = _closest(key, keys[name])
        if match is not None:
            return f"{name}.{match}"
    return None


def _hint(suggestion: str | None, fallback: str = "") -> str:
    """``; did you mean 'x'?``, or ``; {fallback}`` without a suggestion (nothing if no fallback)."""
    if suggestion is not None:
        return f"; did you mean {suggestion!r}?"
    return f"; {fallback}" if fallback else ""


def _apply(config: Config, tables: Mapping[str, object], source: str) -> Config:
    """Return ``config`` with the values in ``tables`` replacing its own, every name and value checked."""
    known = _tables()
    changes: dict[str, object] = {}
    for table, values in tables.items():
        if table not in known:
            hint = _hint(_closest(table, list(known)), f"valid tables are {_quoted(list(known))}")
            raise ConfigError(f"unknown table {table!r} in {source}{hint}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{table!r} in {source} must be a table [{table}], got {_typed(values)}")
        valid = [f.name for f in fields(known[table])]
        for key in values:
            if key not in valid:
                hint = _hint(_suggest_key(table, str(key)), f"valid keys in [{table}] are {_quoted(valid)}")
                raise ConfigError(f"unknown key '{table}.{key}' in {source}{hint}")
        try:
            changes[table] = dataclasses.replace(getattr(config, table), **values)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (in {source})") from None
    return dataclasses.replace(config, **changes)


def config_from_dict(data: Mapping[str, object], *, source: str = "config") -> Config:
    """Build a :class:`Config` from ``{table: {key: value}}``; missing keys keep their defaults.

    The inverse of :func:`config_to_dict`. Unknown tables and keys are errors, as in a preset.

    Args:
        data: Tables by name, each a mapping of key to value.
        source: Where ``data`` came from, named in error messages.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: An unknown table or key, or a value out of range or of the wrong type.

    Example:
        >>> config_from_dict({"dream": {"steps": 3}}).dream.steps
        3
    """
    return _apply(Config(), data, source)


def config_to_dict(config: Config) -> dict[str, dict[str, object]]:
    """Return ``{table: {key: value}}`` for ``config``: plain TOML/JSON-friendly values.

    Example:
        >>> config_to_dict(Config())["run"]
        {'seed': 0, 'device': 'auto', 'precision': 'auto', 'max_memory': 2.0}
    """
    return {name: {key: list(value) if isinstance(value, tuple) else value
                   for key, value in dataclasses.asdict(getattr(config, name)).items()}
            for name in _tables()}


# ---------------------------------------------------------------------------------------------- presets


def presets_dir() -> Path:
    """Return the folder of shipped presets.

    Inside an installed wheel that is ``dreamvid/presets/``; in a source checkout or editable install it
    is ``presets/`` at the repository root, next to the package.

    Example:
        >>> (presets_dir() / "classic.toml").is_file()
        True
    """
    package = Path(__file__).resolve().parent
    inside = package / "presets"
    return inside if inside.is_dir() else package.parent / "presets"


def resolve_preset(name_or_path: str) -> Path:
    """Return the preset file for a shipped preset's name or a path to a ``.toml`` file.

    Text ending in ``.toml`` or containing a path separator is a path; anything else is a name.

    Args:
        name_or_path: ``"classic"``, or ``"my/preset.toml"``.

    Returns:
        Path to an existing preset file.

    Raises:
        ConfigError: No such file, or no such preset (the message lists the shipped names).

    Example:
        >>> resolve_preset("classic").name
        'classic.toml'
    """
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path:
        if path.suffix != ".toml":
            raise ConfigError(f"a preset file must end in .toml, got {name_or_path!r}")
        if not path.is_file():
            raise ConfigError(f"preset file not found: {name_or_path}")
        return path
    shipped = presets_dir() / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    names = [p.stem for p in sorted(presets_dir().glob("*.toml"))]
    available = ", ".join(names) or "none"
    hint = _hint(_closest(name_or_path, names))
    raise ConfigError(f"unknown preset {name_or_path!r}; available presets: {available}{hint}")


def list_presets() -> list[PresetInfo]:
    """Return the shipped presets with their descriptions, sorted by name.

    Raises:
        ConfigError: A preset file is unreadable or not valid TOML.

    Example:
        >>> [preset.name for preset in list_presets()][:5]
        ['classic', 'endless-zoom', 'from-noise', 'music-video', 'spiral-zoom']
    """
    infos = []
    for path in presets_dir().glob("*.toml"):
        description, _ = _read_preset(path)
        infos.append(PresetInfo(name=path.stem, path=path, description=description))
    return sorted(infos, key=lambda info: info.name)


def _read_preset(path: Path) -> tuple[str, dict[str, object]]:
    """Return ``(description, tables)`` of a preset file; table contents are checked later."""
    source = f"preset {path.name}"
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {source}: {exc}") from None
    description = data.pop("description", "")
    if not isinstance(description, str) or "\n" in description:
        raise ConfigError(f"description in {source} must be a one-line string, got {_typed(description)}")
    for key, value in data.items():
        if not isinstance(value, dict) and key not in _tables():
            hint = _hint(_suggest_key("", key))
            message = f"unknown top-level key {key!r} in {source}; only 'description' may sit outside a table"
            raise ConfigError(message + hint)
    return description, data


# ------------------------------------------------------------------------------------------- overrides

_OVERRIDE = re.compile(r"\s*([\w-]+)\.([\w-]+)\s*=(.*)", re.DOTALL)


def parse_override(text: str) -> tuple[str, str, object]:
    """Parse one ``--set`` override, ``table.key=value``, the value as a TOML value.

    A bare word that is not valid TOML (``b10``, ``cuda:0``, ``0.5*b8+b12``) is taken as a string.
    Only the syntax is checked here; :func:`load_config` checks the names and the value.

    Args:
        text: The override, e.g. ``"dream.steps=20"`` or ``'dream.objective="b10"'``.

    Returns:
        ``(table, key, value)``.

    Raises:
        ConfigError: Not of the form ``table.key=value``, an empty value, or a malformed quoted
            string, array or inline table.

    Example:
        >>> parse_override("dream.steps=20"), parse_override("run.device=cuda:0")
        (('dream', 'steps', 20), ('run', 'device', 'cuda:0'))
    """
    match = _OVERRIDE.fullmatch(text)
    if match is None or "\n" in text or "\r" in text:
        raise ConfigError(f"--set expects table.key=value (e.g. dream.steps=20), got {text!r}")
    table, key, raw = match[1], match[2], match[3].strip()
    if not raw:
        raise ConfigError(f'--set {text!r} has no value; write {table}.{key}="" for an empty string')
    try:
        return table, key, tomllib.loads(f"value = {raw}")["value"]
    except tomllib.TOMLDecodeError as exc:
        if raw[0] in "\"'[{":
            raise ConfigError(f"--set {text!r}: {raw} is not a valid TOML value ({exc})") from None
        return table, key, raw


# ---------------------------------------------------------------------------------------- entry points


def load_config(preset: str | None = None, overrides: Sequence[str] = ()) -> Config:
    """Resolve the configuration: defaults, then the preset, then each override in order.

    Args:
        preset: A shipped preset's name or a path to a ``.toml`` file; ``None`` for the defaults.
        overrides: ``--set`` texts, ``table.key=value``; a later one wins over an earlier one.

    Returns:
        The validated, frozen configuration.

    Raises:
        ConfigError: A missing or malformed preset, a malformed override, an unknown table or key, or
            a value out of range or of the wrong type. The message names the preset file or override.

    Example:
        >>> load_config("subtle", ["dream.steps=8"]).dream.steps
        8
    """
    config = Config()
    if preset is not None:
        path = resolve_preset(preset)
        _, tables = _read_preset(path)
        config = _apply(config, tables, f"preset {path.name}")
    for text in overrides:
        table, key, value = parse_override(text)
        config = _apply(config, {table: {key: value}}, f"--set {text.strip()}")
    return config


def save_config_json(config: Config, path: Path, *, extra: Mapping[str, object] | None = None) -> None:
    """Write ``config`` as JSON (indent 2), with ``extra`` under a top-level ``"run_info"`` key.

    Values in ``extra`` that JSON cannot hold (such as paths) are written as strings. The tables read back
    with :func:`config_from_dict` once ``"run_info"`` is removed.

    Args:
        config: The configuration to record.
        path: The JSON file to write (its folder must exist).
        extra: Facts about the run, e.g. ``{"input": "in.mp4", "version": "0.1.0"}``.

    Raises:
        OutputError: ``path`` cannot be written.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "config.json"
        >>> save_config_json(Config(), target, extra={"version": "0.1.0"})
        >>> json.loads(target.read_text())["run_info"]
        {'version': '0.1.0'}
    """
    data: dict[str, object] = dict(config_to_dict(config))
    if extra is not None:
        data["run_info"] = dict(extra)
    text = json.dumps(data, indent=2, default=str) + "\n"
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write the config to {path}: {exc.strerror or exc}") from None
