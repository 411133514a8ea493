"""The setting tables: one frozen, validated dataclass per TOML table, and :class:`FrameSettings` per frame.

``[model]`` → :class:`ModelConfig`, ``[dream]`` → :class:`DreamConfig`, ``[run]`` → :class:`RunConfig`, ... The
list of tables *is* the fields of :class:`Config`: a new table is one dataclass plus one field there. Where
the settings come from (presets, ``--set``, JSON) is :mod:`dreamvid.config`'s job.

Every construction is validated in ``__post_init__`` (:mod:`dreamvid.checks`); a bad value raises
:class:`~dreamvid.errors.ConfigError` with one line saying which key, what was expected and what was got.

Schedules: the settings named in a table's ``SCHEDULED`` also take keyframes, ``"0:1.0, 90:1.3"`` (see
:mod:`dreamvid.schedule`; frames are output frames). Each keyframe value is range-checked like a plain
value; :meth:`Config.at` returns the configuration with every schedule evaluated at one frame, and
:meth:`Config.frame` the :class:`FrameSettings` a frame step sees.

Conventions: ``step_size`` is on the [0, 1] pixel scale; ``jitter``, ``smooth`` and ``max_size`` are in
pixels; ``rotate_jitter`` is in degrees; ``scale_jitter`` is a fraction (0.1 → scale 0.9 to 1.1).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import ClassVar, cast

from dreamvid.checks import check_choice, check_int, check_number, check_str, fail, quoted, show, typed
from dreamvid.errors import ConfigError
from dreamvid.react import parse_reaction
from dreamvid.schedule import is_schedule, parse_schedule

PARAMETERIZATIONS = ("pixels", "fourier")
"""Values of ``dream.parameterization``."""


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

    TABLE: ClassVar[str] = "model"

    name: str = "efficientnet-lite0"
    weights: str = ""

    def __post_init__(self) -> None:
        check_str(self, "name", allow_empty=False)
        check_str(self, "weights")


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
        parameterization: What the steps change: ``"pixels"`` (gradient ascent on the pixels over the
            octave pyramid) or ``"fourier"`` (Adam on a 1/f-scaled spectrum in decorrelated colour with
            transformation robustness, :mod:`dreamvid.fourier`: class visualisations from noise that
            read as the class). ``"fourier"`` runs one level (``octaves = 1``) with ``step_size`` as Adam's
            learning rate, and has no gradient filters (``smooth = 0``, ``lapnorm`` 0 or 1): the dream
            refuses other values (checked when it starts, so ``--set`` order does not matter); it paints
            flat still pictures (not video, zoom or 360° frames).

    All but ``lapnorm``, ``max_size`` and ``parameterization`` take schedules; the objective switches at its keyframes
    (``"0:b8, 120:b12:7,9"``) and integer settings round to the nearest integer between keyframes.

    Example:
        >>> DreamConfig(smooth=1).smooth  # an int is accepted as a float
        1.0
        >>> DreamConfig(steps="0:10, 100:20").steps
        '0:10, 100:20'
    """

    TABLE: ClassVar[str] = "dream"

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
    parameterization: str = "pixels"

    def __post_init__(self) -> None:
        check_str(self, "objective")
        if is_schedule(self.objective):
            schedule = parse_schedule(self.objective, name="dream.objective")
            if schedule.numeric:
                fail(self, "objective", "an objective (or a schedule of objectives, like \"0:b8, 120:b12\")",
                      repr(self.objective))
        check_int(self, "octaves", 1, 12)
        check_number(self, "octave_scale", 1, 4, above_low=True)
        check_int(self, "steps", 0, 1000)
        check_number(self, "step_size", 0, 1, above_low=True)
        check_int(self, "jitter", 0, 512)
        check_number(self, "smooth", 0, 20)
        check_number(self, "tv", 0, 100)
        check_int(self, "lapnorm", 0, 8)
        check_number(self, "scale_jitter", 0, 0.5)
        check_number(self, "rotate_jitter", 0, 45)
        max_size_expected = "0 (full size) or an integer from 32 to 16384"
        check_int(self, "max_size", 0, 16384, expected=max_size_expected)
        if 0 < self.max_size < 32:
            fail(self, "max_size", max_size_expected, repr(self.max_size))
        check_choice(self, "parameterization", PARAMETERIZATIONS)

    @property
    def objectives(self) -> list[str]:
        """Every objective this table names: the one, or each value of a schedule of objectives.

        Example:
            >>> DreamConfig(objective="0:b8, 120:b12:7").objectives
            ['b8', 'b12:7']
        """
        if not is_schedule(self.objective):
            return [self.objective]
        return [str(v) for v in parse_schedule(self.objective, name="dream.objective").values]


MAX_SEED = 2**64 - 1
"""The largest seed: torch's generators take 64 bits."""

_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
_PRECISIONS = ("auto", "fp32", "bf16", "fp16")


@dataclass(frozen=True)
class RunConfig:
    """The ``[run]`` table: randomness and hardware.

    Args:
        seed: Random seed, an integer from 0 to 2**64 - 1 (torch's generators take 64 bits).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
        precision: ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``.
        max_memory: Gigabytes (10⁹ bytes) one gradient step may use, 0.05 to 10 000; frames whose step
            would need more are dreamed in overlapping tiles (see :mod:`dreamvid.tiles`). 0: no limit.
        threads: torch CPU threads, an integer >= 0; 0 keeps torch's default (the core count; in a render
            in chunks, the cores divided among the workers). The same picture dreamed with another thread
            count is another picture (floating-point sums in another order).

    Example:
        >>> RunConfig(device="cuda:1").device
        'cuda:1'
        >>> RunConfig(max_memory=1.5).max_memory_bytes
        1500000000
    """

    TABLE: ClassVar[str] = "run"

    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    max_memory: float = 2.0
    threads: int = 0

    def __post_init__(self) -> None:
        check_int(self, "seed", 0, MAX_SEED, expected=f"an integer from 0 to {MAX_SEED} (below 2^64)")
        check_int(self, "threads", 0, 4096)
        check_str(self, "device")
        if _DEVICE.fullmatch(self.device) is None:
            expected = "one of 'auto', 'cpu', 'cuda', 'cuda:N' (N = GPU index) or 'mps'"
            fail(self, "device", expected, repr(self.device))
        check_str(self, "precision")
        if self.precision not in _PRECISIONS:
            fail(self, "precision", f"one of {quoted(_PRECISIONS)}", repr(self.precision))
        check_number(self, "max_memory", 0, 10_000)
        if 0 < self.max_memory < 0.05:
            fail(self, "max_memory", "0 (no limit) or 0.05 to 10000 gigabytes", show(self.max_memory))

    @property
    def max_memory_bytes(self) -> int | None:
        """``max_memory`` in bytes, or ``None`` for no limit (what :func:`dreamvid.engine.dream` takes)."""
        return round(self.max_memory * 1e9) if self.max_memory else None



@dataclass(frozen=True)
class ScaleConfig:
    """The ``[scale]`` table: rendering one clip in chunks across processes and machines (Ray).

    Args:
        workers: task slots of a local Ray cluster; 0 renders sequentially, without chunks (``--workers``).
        address: a running Ray cluster to use (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``); ``""``
            starts a local one when ``workers`` is set (``--ray-address``).
        segment_seconds: length of a chunk inside a shot, seconds, 0.01 to 3600 (chunks also begin at
            scene cuts).
        warmup: frames a chunk that begins mid-shot renders and throws away first, 0 to 1000 (48: fewer
            left its joins flickering more than 1.5× a sequential render, see docs/scaling.md).
        overlap: frames of that warm-up cross-faded with the chunk before, 0 to 1000 (the fade is part of
            the warm-up: at most ``warmup`` frames are faded).

    Example:
        >>> ScaleConfig(workers=4).warmup
        48
    """

    TABLE: ClassVar[str] = "scale"

    workers: int = 0
    address: str = ""
    segment_seconds: float = 8.0
    warmup: int = 48
    overlap: int = 24

    def __post_init__(self) -> None:
        check_int(self, "workers", 0, 4096)
        check_str(self, "address")
        check_number(self, "segment_seconds", 0.01, 3600)
        check_int(self, "warmup", 0, 1000)
        check_int(self, "overlap", 0, 1000)

    @property
    def chunked(self) -> bool:
        """Whether a video render runs in chunks on Ray (workers or an address given)."""
        return bool(self.workers or self.address)


_COHERENCE = ("flow", "blend", "none")
_FLOWS = ("dis", "dis-fast", "farneback", "raft")
_WARPS = ("linear", "cubic", "lanczos")


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
        reliable_step: On seeded frames, the step size on pixels whose carried dream the flow moved reliably,
            relative to ``[dream]``'s, 0 to 10: below 1 the carried dream is touched up more gently than newly
            revealed pixels are dreamed.
        unreliable_carry: How much of the carried dream is kept where the flow is unreliable (occlusions,
            flow errors), 0 to 1: 0 drops it there and dreams those pixels afresh.
        detail_cap: Hold the RMS of the carried dream to at most this many times that of the last cold frame's
            dream, 0 to 10 (0: no cap): stops a carried dream from thickening along a clip.
        warp: How the carried dream is resampled along the flow: ``"linear"``, ``"cubic"`` or ``"lanczos"``.
        scene_cuts: Detect cuts and restart the chain with a cold frame there.
        crf: Encoder quality for MP4/WebM (lower is better), 0 to 51.
        segment_frames: Frames per encoded piece of a resumable MP4/WebM render, 0 to 100 000; each piece
            starts on a keyframe, where the dream ticks. 0: as many as x264's own keyframe interval (250)
            while the frames waiting to be encoded fit in 1.6 GB raw, so 250 up to 1080p and 60 for 4K and
            more (:func:`dreamvid.checkpoint.auto_segment_frames`).

    ``carry``, ``blend``, ``seeded_octaves``, ``seeded_steps``, ``fresh_boost``, ``reliable_step``,
    ``unreliable_carry`` and ``detail_cap`` take schedules.

    Example:
        >>> VideoConfig(coherence="none").coherence
        'none'
    """

    TABLE: ClassVar[str] = "video"

    SCHEDULED: ClassVar[tuple[str, ...]] = ("carry", "blend", "seeded_octaves", "seeded_steps", "fresh_boost",
                                            "reliable_step", "unreliable_carry", "detail_cap")

    coherence: str = "flow"
    flow: str = "dis"
    flow_weights: str = ""
    carry: float | str = 1.0
    blend: float | str = 0.5
    seeded_octaves: int | str = 2
    seeded_steps: int | str = 3
    fresh_boost: float | str = 2.0
    reliable_step: float | str = 1.0
    unreliable_carry: float | str = 0.0
    detail_cap: float | str = 0.0
    warp: str = "linear"
    scene_cuts: bool = True
    crf: int = 18
    segment_frames: int = 0

    def __post_init__(self) -> None:
        for key, choices in (("coherence", _COHERENCE), ("flow", _FLOWS), ("warp", _WARPS)):
            check_str(self, key)
            if getattr(self, key) not in choices:
                fail(self, key, f"one of {quoted(choices)}", repr(getattr(self, key)))
        check_str(self, "flow_weights")
        check_number(self, "carry", 0, 1)
        check_number(self, "blend", 0, 1)
        check_int(self, "seeded_octaves", 1, 12)
        check_int(self, "seeded_steps", 0, 1000)
        check_number(self, "fresh_boost", 0, 10)
        check_number(self, "reliable_step", 0, 10)
        check_number(self, "unreliable_carry", 0, 1)
        check_number(self, "detail_cap", 0, 10)
        if not isinstance(self.scene_cuts, bool):
            fail(self, "scene_cuts", "true or false", typed(self.scene_cuts))
        check_int(self, "crf", 0, 51)
        check_int(self, "segment_frames", 0, 100_000)


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

    TABLE: ClassVar[str] = "zoom"

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
        check_number(self, "zoom", 0, 100, above_low=True)
        check_number(self, "rotate", -3600, 3600)
        check_number(self, "shift_x", -100000, 100000)
        check_number(self, "shift_y", -100000, 100000)
        check_number(self, "center_x", 0, 1)
        check_number(self, "center_y", 0, 1)
        check_number(self, "colour", 0, 1)
        check_number(self, "feedback", 0, 1)
        for key, choices in (("border", ("reflect", "replicate", "wrap", "constant")),
                             ("filter", ("lanczos", "cubic", "linear"))):
            check_str(self, key)
            if getattr(self, key) not in choices:
                fail(self, key, f"one of {quoted(choices)}", repr(getattr(self, key)))

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

    TABLE: ClassVar[str] = "audio"

    react: tuple[str, ...] = ()
    attack: float = 0.02
    release: float = 0.25

    def __post_init__(self) -> None:
        if isinstance(self.react, list):
            object.__setattr__(self, "react", tuple(self.react))
        if not isinstance(self.react, tuple) or not all(isinstance(r, str) for r in self.react):
            fail(self, "react", 'a list of strings like ["zoom *= 1 + 0.3 * low"]', typed(self.react))
        for text in self.react:
            parse_reaction(text, targets=SCHEDULABLE)
        check_number(self, "attack", 0, 10)
        check_number(self, "release", 0, 10)


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

    TABLE: ClassVar[str] = "vr"

    projection: str = "auto"
    stereo: str = "auto"
    poles: str = "faces"
    metadata: bool = True

    def __post_init__(self) -> None:
        for key, choices in (("projection", _PROJECTIONS), ("stereo", _STEREO), ("poles", _POLES)):
            check_str(self, key)
            if getattr(self, key) not in choices:
                fail(self, key, f"one of {quoted(choices)}", repr(getattr(self, key)))
        if not isinstance(self.metadata, bool):
            fail(self, "metadata", "true or false", typed(self.metadata))


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
    scale: ScaleConfig = field(default_factory=ScaleConfig)

    def __post_init__(self) -> None:
        for name, table_type in tables().items():
            value = getattr(self, name)
            if not isinstance(value, table_type):
                raise ConfigError(f"config.{name} must be a {table_type.__name__}, got {typed(value)}")

    def with_values(self, changes: Mapping[str, Mapping[str, object]]) -> Config:
        """This configuration with ``{table: {key: value}}`` replaced, whole-number settings rounded.

        The one place a computed value (a schedule between keyframes, an audio reaction) becomes a
        setting: ``steps`` 2.6 → 3. Every value is validated as in a preset.

        Example:
            >>> Config().with_values({"dream": {"steps": 2.6, "step_size": 0.02}}).dream.steps
            3
        """
        rounded = {name: {key: round(v) if _is_int_field(getattr(self, name), key) and isinstance(v, float) else v
                          for key, v in values.items()}
                   for name, values in changes.items()}
        return dataclasses.replace(self, **{name: dataclasses.replace(getattr(self, name), **values)
                                            for name, values in rounded.items() if values})

    def at(self, frame: float) -> Config:
        """This configuration with every schedule evaluated at ``frame`` (integer settings rounded).

        Example:
            >>> config = Config(dream=DreamConfig(steps="0:10, 100:20", objective="0:b8, 50:b12"))
            >>> config.at(25).dream.steps, config.at(25).dream.objective, config.at(50).dream.objective
            (12, 'b8', 'b12')
        """
        changes = {name: {key: parse_schedule(getattr(table, key), name=f"{name}.{key}")(frame)
                          for key in getattr(table, "SCHEDULED", ()) if is_schedule(getattr(table, key))}
                   for name, table in ((name, getattr(self, name)) for name in tables())}
        return self.with_values(changes) if any(changes.values()) else self

    def frame(self, frame: int) -> FrameSettings:
        """The :class:`FrameSettings` of ``frame``: schedules evaluated (no audio; see :mod:`dreamvid.timeline`)."""
        return FrameSettings.of(self.at(frame))


@dataclass(frozen=True)
class FrameSettings:
    """The settings in force at one frame, every schedule evaluated and every audio reaction applied.

    What a frame step sees, never the whole :class:`Config`: ``dream`` (the full schedule, for a cold
    frame), ``video`` (``carry``, ``blend``, ``fresh_boost`` ...) and ``zoom`` (the feedback transform),
    all plain values.

    Example:
        >>> at = Config(video=VideoConfig(seeded_octaves=1, seeded_steps="0:2, 10:4")).frame(5)
        >>> at.dream.steps, at.seeded.octaves, at.seeded.steps
        (10, 1, 3)
    """

    dream: DreamConfig
    video: VideoConfig
    zoom: ZoomConfig

    @classmethod
    def of(cls, config: Config) -> FrameSettings:
        """The per-frame tables of ``config``, once its schedules are evaluated (:meth:`Config.at`)."""
        return cls(config.dream, config.video, config.zoom)

    @property
    def seeded(self) -> DreamConfig:
        """``dream`` with ``[video]``'s cheaper seeded schedule (``seeded_octaves × seeded_steps``), for frames
        that already carry a dream (the one place that schedule is made)."""
        if self.dream.parameterization != "pixels":  # no seeded frames: the pipeline refuses videos and zooms
            return self.dream
        return dataclasses.replace(self.dream, octaves=self.video.seeded_octaves, steps=self.video.seeded_steps)


def _is_int_field(table: object, key: str) -> bool:
    default = next(f.default for f in fields(table) if f.name == key)  # type: ignore[arg-type]
    return isinstance(default, int) and not isinstance(default, bool)


def tables() -> dict[str, type]:
    """Table name → dataclass, read from the fields of :class:`Config` (the one list of tables).

    Example:
        >>> list(tables())[:3]
        ['model', 'dream', 'run']
    """
    return {f.name: cast(type, f.default_factory) for f in fields(Config)}


SCHEDULABLE: Mapping[str, tuple[str, ...]] = {
    name: tuple(key for key in cls.SCHEDULED if key != "objective")  # type: ignore[attr-defined]
    for name, cls in tables().items() if getattr(cls, "SCHEDULED", ())}
"""Table → the numeric settings that take schedules: what an audio reaction may target."""
