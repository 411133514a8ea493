"""The one render loop: ``steps(program, inputs, timeline) → (state, frame), ...`` and :func:`render` around it.

:func:`steps` is the loop itself: it reads the next input frame, asks the timeline for the settings at that
frame, and steps the program. :func:`render` drives it into a checkpoint: it resumes from the program
state the checkpoint saved, writes each output frame (rounded to 8 bits: :func:`dreamvid.arrays.to_uint8`),
saves the program's new state after it, keeps preview samples and a loop's first frames, reports progress
and stops cleanly between two frames when asked.

Convention:
    *Raw* frame ``r`` is the program's ``r``-th step; it is output frame ``r − overlap``. A loop's first
    ``overlap`` raw frames are held back (kept in the checkpoint) and its last ``overlap`` output frames
    fade into them (:func:`loop_crossfade`), so the clip loops without a jump; without a loop
    (``overlap = 0``) raw and output frames are the same.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, Protocol

import numpy as np

from dreamvid.arrays import to_uint8
from dreamvid.engine import Progress
from dreamvid.errors import RenderStopped
from dreamvid.programs import Program
from dreamvid.settings import FrameSettings

PREVIEW_FRAMES = 8
"""Samples of the output kept for a preview contact sheet."""


class Sink(Protocol):
    """Where :func:`render` puts its work: a :class:`~dreamvid.checkpoint.Checkpoint`."""

    frames_done: int
    state: dict[str, np.ndarray]

    def write(self, frame: np.ndarray) -> None: ...

    def save(self, state: dict[str, np.ndarray]) -> None: ...

    def keep(self, name: str, array: np.ndarray) -> None: ...

    def kept(self, prefix: str) -> list[tuple[str, np.ndarray]]: ...


def steps(
    program: Program[Any],
    inputs: Iterable[np.ndarray | None],
    settings: Callable[[int], FrameSettings],
    *,
    state: Any = None,
) -> Iterator[tuple[Any, np.ndarray]]:
    """Step ``program`` over ``inputs`` from ``state`` (default its start): yields ``(state, frame)`` per input.

    ``inputs`` starts at the frame the state is at (``state.index``); ``settings(index)`` gives the settings
    in force at each frame (:meth:`dreamvid.timeline.Timeline.at`).

    Example:
        >>> from dreamvid.engine import build_engine
        >>> from dreamvid.programs import Dreamer, StillProgram
        >>> from dreamvid.settings import Config, DreamConfig
        >>> config = Config(dream=DreamConfig(objective="b4", octaves=1, steps=1))
        >>> program = StillProgram(Dreamer(build_engine(objectives=["b4"], device="cpu")))
        >>> [(s.index, f.shape) for s, f in steps(program, [np.zeros((32, 32, 3), np.uint8)], config.frame)]
        [(1, (32, 32, 3))]
    """
    state = program.start() if state is None else state
    for frame in inputs:
        state, out = program.step(state, frame, settings(state.index))
        yield state, out


def render(
    program: Program[Any],
    inputs: Iterable[np.ndarray | None],
    settings: Callable[[int], FrameSettings],
    sink: Sink,
    *,
    total: int,
    overlap: int = 0,
    previews: int = 0,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Render ``program`` into ``sink`` from where the sink stands: all of ``inputs``, or ``total`` output frames.

    Args:
        inputs: one per raw frame from the first (``None`` for programs that read nothing); those the
            checkpoint already holds are skipped.
        settings: the settings at each raw frame.
        total: output frames expected (an estimate for footage: progress only).
        overlap: raw frames held back for a loop's crossfade (see the module convention).
        previews: keep this many evenly spaced output frames (``preview_NNNNNN`` in the sink).
        progress: called as ``progress(done, total)`` once, then ``progress(done, total, preview=frame)``
            after each output frame (``frame``: the ``(H, W, 3)`` uint8 frame just written).
        stop: when set, the render ends before the next frame; the sink keeps everything done so far.

    Raises:
        RenderStopped: ``stop`` was set; ``frames_done`` says how far the render got.
    """
    state = program.load(sink.state) if "index" in sink.state else None
    start = state.index if state is not None else 0
    head = [frame for _, frame in sink.kept("head_")[:min(start, overlap)]]
    every = max(1, -(-total // previews)) if previews else 0  # ceil: spread the samples over the clip
    if progress is not None:
        progress(sink.frames_done, max(total, sink.frames_done))
    stepping = steps(program, islice(inputs, start, None), settings, state=state)
    while True:
        if stop is not None and stop.is_set():
            raise RenderStopped(sink.frames_done)
        step = next(stepping, None)
        if step is None:
            return
        state, raw = step
        r = state.index - 1
        frame = None
        if r < overlap:
            head.append(raw)
            sink.keep(f"head_{r:06d}", raw)
        else:
            frame = to_uint8(_fade_into_head(raw, r - overlap, head, count=total) if overlap else raw)
            sink.write(frame)
            index = r - overlap
            if every and index % every == 0 and index // every < previews:
                sink.keep(f"preview_{index:06d}", frame)
        sink.save(program.save(state))
        if progress is not None and frame is not None:
            progress(r - overlap + 1, max(total, r - overlap + 1), preview=frame)


def loop_crossfade(frames: Iterable[np.ndarray], *, count: int, overlap: int) -> Iterator[np.ndarray]:
    """Make ``count`` frames that loop seamlessly out of ``count + overlap`` consecutive ones.

    The first ``overlap`` frames are held back; the last ``overlap`` output frames fade into them, so
    the clip's last frame is the held-back frame just before its first: ``out[j] = raw[overlap + j]``,
    and for the last ``overlap`` ones ``(1 − w)·raw[overlap + j] + w·raw[i]`` with ``w = (i + 1) / overlap``.

    Example:
        >>> [float(f) for f in loop_crossfade(map(np.float32, range(5)), count=3, overlap=2)]
        [2.0, 1.5, 1.0]
    """
    head: list[np.ndarray] = []
    for index, frame in enumerate(frames):
        if index < overlap:
            head.append(frame)
            continue
        j = index - overlap
        yield _fade_into_head(frame, j, head, count=count)
        if j + 1 == count:
            return


def _fade_into_head(frame: np.ndarray, j: int, head: Sequence[np.ndarray], *, count: int) -> np.ndarray:
    """Output frame ``j`` of :func:`loop_crossfade`: ``frame`` itself, or faded into ``head`` near the end."""
    overlap = len(head)
    i = j - (count - overlap)
    if i < 0:
        return frame
    w = (i + 1) / overlap
    return (1 - w) * frame + w * head[i]
