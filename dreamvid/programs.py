"""Frame programs: ``program.step(state, input frame, settings at t) → (state, output frame)``.

A render is a program stepped frame by frame by the one render loop (:mod:`dreamvid.render`). Everything
that stays the same for the whole render (engine, layout, flow method, fps, ``vr.poles``) is built once
into a :class:`Dreamer`; everything that changes lives in the program's *state*, a frozen dataclass that
is also exactly what a checkpoint saves (``program.save(state)`` → arrays, ``program.load(arrays)`` →
state), random generator included. The settings at t (:class:`~dreamvid.settings.FrameSettings`) are
already resolved from schedules and audio reactions; nothing here sees the whole configuration.

Convention:
    Input frames are ``(H, W, 3)`` uint8 RGB (``None`` for programs that read nothing, like the zoom);
    output frames ``(H, W, 3)`` float32 in [0, 1], not yet rounded to 8 bits. ``state.index`` is the
    index of the next frame to step.

Programs:
    - :class:`StillProgram`: a picture, dreamed once with the full schedule.
    - :class:`CoherenceProgram` (``dreamvid video``): each frame seeded with the previous dream, as
      ``[video].coherence`` says (docs/architecture.md gives the formula).
    - :class:`ZoomProgram` (``dreamvid zoom``): frame k+1 = dream(T_k(frame k)).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import torch

from dreamvid.arrays import to_float
from dreamvid.engine import Engine, Progress, build_engine, seeded_generator
from dreamvid.feedback import lab_stats, match_colour
from dreamvid.flow import FlowFunction, make_flow, scene_cut
from dreamvid.panorama import Layout, dream_layout, eye_flows, eye_reliability, follow, mover
from dreamvid.settings import DreamConfig, FrameSettings

S = TypeVar("S")


class Program(Protocol[S]):
    """What the render loop needs of a program: a first state, a step, and the state as arrays and back."""

    def start(self) -> S: ...

    def step(self, state: S, frame: np.ndarray | None, settings: FrameSettings) -> tuple[S, np.ndarray]: ...

    def save(self, state: S) -> dict[str, np.ndarray]: ...

    def load(self, arrays: Mapping[str, np.ndarray]) -> S: ...


@dataclass(frozen=True)
class Dreamer:
    """What every frame of a render shares, built once: the engine, the layout, the flow, the frame rate.

    Attributes:
        engine: model, objectives, device, precision and memory budget (:func:`dreamvid.engine.build_engine`).
        layout: flat or equirect, mono or stereo.
        seed: the random seed; each program's state carries its generator from there.
        fps: frames per second, for the per-second rates of ``[zoom]``.
        poles: ``vr.poles`` for equirect frames.
        flow: the optical flow (wrapping for equirect), for coherence and the stereo disparity; ``None``
            when neither needs one.
        progress: called with the gradient steps of each frame's (left eye's) dream, ``progress(done, total)``.
    """

    engine: Engine
    layout: Layout = Layout()
    seed: int = 0
    fps: float = 30.0
    poles: str = "faces"
    flow: FlowFunction | None = None
    progress: Progress | None = None

    def dream(self, image: np.ndarray, source: np.ndarray, settings: DreamConfig, at: FrameSettings, *,
              rng: np.ndarray, weight: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Dream the frame ``image`` (``source`` plus what was carried into it) as the layout says, from the
        generator state ``rng``; returns ``(dreamed frame, generator state after)``.

        ``settings`` is the schedule for this frame (``at.dream`` or ``at.seeded``); the right eye of a stereo
        frame takes ``at.seeded`` and ``at.video.fresh_boost``, the values in force at this frame.
        """
        generator = torch.Generator()
        generator.set_state(torch.from_numpy(np.array(rng, dtype=np.uint8)))
        out = dream_layout(image, source, self.engine, settings, layout=self.layout, generator=generator,
                           touch_up=at.seeded, fresh_boost=float(at.video.fresh_boost), poles=self.poles,
                           weight=weight, flow=self.flow, progress=self.progress)
        return out, generator.get_state().numpy()

    def first_rng(self) -> np.ndarray:
        """The generator state a render starts from (the seed's ``"dream"`` stream)."""
        return seeded_generator(self.seed).get_state().numpy()

    def mover(self, at: FrameSettings, size: tuple[int, int]) -> Callable[[np.ndarray], np.ndarray] | None:
        """The frame's feedback transform (``[zoom]`` at this frame), or ``None`` for the identity."""
        return mover(at.zoom, self.layout, size, self.fps)


# ------------------------------------------------------------------------------------------------ still


@dataclass(frozen=True)
class StillState:
    """A still's state: the next index (0 or 1) and the generator state."""

    index: int
    rng: np.ndarray


@dataclass(frozen=True)
class StillProgram:
    """A picture dreamed once with the full schedule (``[dream]``); the input is the picture as uint8 or float."""

    dreamer: Dreamer

    def start(self) -> StillState:
        return StillState(0, self.dreamer.first_rng())

    def step(self, state: StillState, frame: np.ndarray | None, settings: FrameSettings) -> tuple[StillState, np.ndarray]:
        if frame is None:
            raise ValueError("a still program dreams a picture: give it a frame")
        picture = to_float(frame) if frame.dtype == np.uint8 else frame
        out, rng = self.dreamer.dream(picture, picture, settings.dream, settings, rng=state.rng)
        return StillState(state.index + 1, rng), out

    def save(self, state: StillState) -> dict[str, np.ndarray]:
        return {"index": np.int64(state.index), "rng": state.rng}

    def load(self, arrays: Mapping[str, np.ndarray]) -> StillState:
        return StillState(int(arrays["index"]), arrays["rng"])


# ------------------------------------------------------------------------------------------- coherence


@dataclass(frozen=True)
class CoherenceState:
    """What frame ``index`` takes from the frame before it, and how that frame was made.

    Attributes:
        index: the next frame's index.
        frame: the last source frame, ``(H, W, 3)`` uint8 (``None`` before the first).
        dream: the last dreamed frame, ``(H, W, 3)`` float32 in [0, 1] (not rounded to 8 bits).
        rng: the random generator's state.
        seeded: the last frame was seeded from the one before (and got the cheaper seeded schedule).
        scene_cut: the last frame followed a scene cut (and was dreamed cold).
        energy: the RMS of what the dream added to the last cold frame (0 before the first), the reference
            of ``video.detail_cap``.
    """

    index: int
    frame: np.ndarray | None
    dream: np.ndarray | None
    rng: np.ndarray
    seeded: bool = False
    scene_cut: bool = False
    energy: float = 0.0


@dataclass(frozen=True)
class CoherenceProgram:
    """Dream a stream of frames, tying each to the last as ``coherence`` says.

    ``flow``: ``I_t = F_t + carry · c ⊙ T_t(warp(D_{t−1} − F_{t−1}, b))``: only the hallucinated detail
    moves, with the backward flow ``b`` of the source frames, and only where the flow is reliable (``c``);
    disoccluded regions are dreamed fresh, ``1 + fresh_boost`` times faster. ``T_t`` is the ``[zoom]``
    feedback transform (identity by default); ``zoom.feedback = f > 0`` also mixes in the whole previous
    dreamed frame: ``I_t ← (1 − f) · I_t + f · T_t(warp(D_{t−1}, b))`` (its colours matched to ``F_t`` by
    ``zoom.colour``). Seeded frames get the seeded schedule; the first frame and frames after a scene cut
    get the full one. ``blend``: ``I_t = (1 − blend) · T_t(D_{t−1}) + blend · F_t`` with the full schedule.
    ``none``: every frame dreamed on its own.

    Args:
        dreamer: what every frame shares (for ``flow``, ``dreamer.flow`` must be set).
        coherence: ``"flow"``, ``"blend"`` or ``"none"``.
        scene_cuts: restart the chain cold at a detected cut.
    """

    dreamer: Dreamer
    coherence: str = "flow"
    scene_cuts: bool = True

    def __post_init__(self) -> None:
        if self.coherence not in ("flow", "blend", "none"):
            raise ValueError(f"expected coherence 'flow', 'blend' or 'none', got {self.coherence!r}")
        if self.coherence == "flow" and self.dreamer.flow is None:
            raise ValueError("coherence 'flow' needs the dreamer's optical flow (Dreamer(flow=...))")

    def start(self) -> CoherenceState:
        return CoherenceState(0, None, None, self.dreamer.first_rng())

    def step(self, state: CoherenceState, frame: np.ndarray | None,
             settings: FrameSettings) -> tuple[CoherenceState, np.ndarray]:
        if frame is None:
            raise ValueError("the coherence program dreams footage: give it a frame")
        source = to_float(frame)
        seed, schedule, cut, weight = source, settings.dream, False, None
        if state.frame is not None and state.dream is not None and self.coherence != "none":
            transform = self.dreamer.mover(settings, (frame.shape[1], frame.shape[0]))
            move = transform if transform is not None else (lambda image: image)
            if self.coherence == "blend":
                seed = np.clip((1 - settings.video.blend) * move(state.dream) + settings.video.blend * source, 0, 1)
            else:
                seed, schedule, cut, weight = self._carry(frame, state.frame, state.dream, source, settings, move,
                                                          moving=transform is not None, energy=state.energy)
        dreamed, rng = self.dreamer.dream(seed, source, schedule, settings, rng=state.rng, weight=weight)
        seeded = schedule is not settings.dream
        energy = state.energy if seeded else float(np.sqrt(np.mean(np.square(dreamed - source))))
        return CoherenceState(state.index + 1, frame, dreamed, rng, seeded, cut, energy), dreamed

    def _carry(self, frame: np.ndarray, previous: np.ndarray, dreamed: np.ndarray, source: np.ndarray,
               at: FrameSettings, move: Callable[[np.ndarray], np.ndarray], *,
               moving: bool, energy: float = 0.0) -> tuple[np.ndarray, DreamConfig, bool, np.ndarray | None]:
        """The flow seed of a frame after the first: ``(seed, schedule, scene cut, step weight)``."""
        layout, flow = self.dreamer.layout, self.dreamer.flow
        if flow is None:  # refused in __post_init__
            raise ValueError("coherence 'flow' needs the dreamer's optical flow")
        backward = eye_flows(flow, frame, previous, layout)
        if self.scene_cuts and scene_cut(layout.split(frame)[0], layout.split(previous)[0], backward[0],
                                         wrap_x=layout.equirect):
            return source, at.dream, True, None
        mask = eye_reliability(flow, frame, previous, backward, layout)
        kept = mask + at.video.unreliable_carry * (1 - mask)  # the mask itself at 0 (adds +0.0)
        carried = move(follow(dreamed - to_float(previous), backward, layout, interpolation=at.video.warp))
        if moving:
            mask = np.clip(move(mask[..., None])[..., 0], 0, 1)
        carried = kept[..., None] * carried
        if at.video.detail_cap > 0 and energy > 0:  # hold the carried dream's energy near the cold frame's
            rms = float(np.sqrt(np.mean(np.square(carried))))
            if rms > at.video.detail_cap * energy:
                carried *= np.float32(at.video.detail_cap * energy / rms)
        seed = source + at.video.carry * carried
        if at.zoom.feedback > 0:
            fed = np.clip(move(follow(dreamed, backward, layout)), 0, 1)
            fed = match_colour(fed, lab_stats(source), strength=at.zoom.colour)
            seed = (1 - at.zoom.feedback) * seed + at.zoom.feedback * fed
        weight = (1 + at.video.fresh_boost * (1 - mask) - (1 - at.video.reliable_step) * mask).astype(np.float32)
        return np.clip(seed, 0, 1), at.seeded, False, weight

    def save(self, state: CoherenceState) -> dict[str, np.ndarray]:
        arrays = {"index": np.int64(state.index), "rng": state.rng, "flags": np.array([state.seeded, state.scene_cut]),
                  "energy": np.float64(state.energy)}
        if state.frame is not None and state.dream is not None:
            arrays.update(frame=state.frame, dream=state.dream)
        return arrays

    def load(self, arrays: Mapping[str, np.ndarray]) -> CoherenceState:
        seeded, cut = (bool(flag) for flag in arrays["flags"])
        return CoherenceState(int(arrays["index"]), arrays.get("frame"), arrays.get("dream"), arrays["rng"], seeded, cut,
                              float(arrays.get("energy", 0.0)))


# --------------------------------------------------------------------------------------------- recipes


@dataclass(frozen=True)
class VideoRecipe:
    """How to build a render's :class:`CoherenceProgram` from plain values: picklable and hashable, so a worker
    process (a Ray task) can build the same program as the process that planned the render.

    Attributes:
        objectives, model, weights, device, precision, max_memory: the engine (:func:`dreamvid.engine.build_engine`).
        layout, seed, fps, poles: the :class:`Dreamer`'s.
        flow, flow_weights: the optical flow method and its weights file (``None``: no flow needed).
        coherence, scene_cuts: the program's.
    """

    objectives: tuple[str, ...]
    model: str
    weights: str | None
    device: str
    precision: str
    max_memory: int | None
    layout: Layout
    seed: int
    fps: float
    poles: str
    flow: str | None
    flow_weights: str | None
    coherence: str
    scene_cuts: bool

    def engine(self) -> Engine:
        """The engine the recipe names (loads the model)."""
        return build_engine(objectives=self.objectives, model=self.model, weights=self.weights, device=self.device,
                            precision=self.precision, max_memory=self.max_memory)

    def build(self, engine: Engine | None = None, *, progress: Progress | None = None) -> CoherenceProgram:
        """The program, on ``engine`` (default: a new one from :meth:`engine`)."""
        engine = engine if engine is not None else self.engine()
        flow = None
        if self.flow is not None:
            flow = make_flow(self.flow, weights=self.flow_weights, device=str(engine.device),
                             wrap_x=self.layout.equirect)
        dreamer = Dreamer(engine, self.layout, seed=self.seed, fps=self.fps, poles=self.poles, flow=flow,
                          progress=progress)
        return CoherenceProgram(dreamer, self.coherence, self.scene_cuts)


# ------------------------------------------------------------------------------------------------ zoom


@dataclass(frozen=True)
class ZoomState:
    """The zoom loop between two frames.

    Attributes:
        index: the next frame's index.
        current: the start picture (index 0), else the last dreamed frame; ``(H, W, 3)`` float32 in [0, 1].
        rng: the random generator's state.
        reference: the LAB mean and std of frame 0, the colours later frames are held to (``None`` before it).
    """

    index: int
    current: np.ndarray
    rng: np.ndarray
    reference: tuple[np.ndarray, np.ndarray] | None = None


@dataclass(frozen=True)
class ZoomProgram:
    """The endless-zoom feedback loop: frame k+1 = dream(T_k(frame k)).

    ``T_k`` is one resample by the ``[zoom]`` motion at frame k (rates per second; on the sphere for
    equirect layouts), then colour coherence toward frame 0 (``zoom.colour``). Frame 0 gets the full
    schedule; the rest the seeded one (they carry the dream already). It reads no input frames.

    Args:
        dreamer: what every frame shares.
        start_picture: ``(H, W, 3)`` float32 in [0, 1], the picture (or noise) frame 0 is dreamed from.
    """

    dreamer: Dreamer
    start_picture: np.ndarray

    def start(self) -> ZoomState:
        return ZoomState(0, self.start_picture, self.dreamer.first_rng())

    def step(self, state: ZoomState, frame: np.ndarray | None, settings: FrameSettings) -> tuple[ZoomState, np.ndarray]:
        current, schedule = state.current, settings.dream
        if state.index > 0:
            transform = self.dreamer.mover(settings, (current.shape[1], current.shape[0]))
            if transform is not None:
                current = np.clip(transform(current), 0, 1)
            if state.reference is not None:
                current = match_colour(current, state.reference, strength=settings.zoom.colour)
            schedule = settings.seeded
        current, rng = self.dreamer.dream(current, current, schedule, settings, rng=state.rng)
        reference = state.reference if state.reference is not None else lab_stats(current)
        return ZoomState(state.index + 1, current, rng, reference), current

    def save(self, state: ZoomState) -> dict[str, np.ndarray]:
        arrays = {"index": np.int64(state.index), "current": state.current, "rng": state.rng}
        if state.reference is not None:
            arrays.update(reference_mean=state.reference[0], reference_std=state.reference[1])
        return arrays

    def load(self, arrays: Mapping[str, np.ndarray]) -> ZoomState:
        reference = ((arrays["reference_mean"], arrays["reference_std"]) if "reference_mean" in arrays else None)
        return ZoomState(int(arrays["index"]), arrays["current"], arrays["rng"], reference)

