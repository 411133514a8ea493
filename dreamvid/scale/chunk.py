"""One chunk on one worker: ``(job) → result``, the body of a Ray task and of ``--workers 1``.

A :class:`ChunkJob` carries everything a worker needs — the program's recipe, the timeline and the chunk's
source frames compressed as PNG — so workers need no shared filesystem and no access to the input.
The worker steps a fresh :class:`~dreamvid.programs.CoherenceProgram` over the chunk's frames from
``chunk.warm`` with the random stream of ``(seed, chunk.start)``, throws the warm-up away and returns:

- the *body* (kept frames the chunk alone decides) encoded with the output's encoder settings, a complete
  file that starts on a keyframe, so bodies join without re-encoding;
- the cross-faded frames at both ends losslessly (the driver blends them with the neighbour's).

Convention:
    Frames travel as PNG bytes of ``(H, W, 3)`` uint8 RGB (lossless, 2–3× smaller than raw). The torch
    thread count of a task is part of the settings (``threads``): the same picture dreamed with 1 and with
    2 threads differs, so every task uses the same count whatever the number of workers.
"""

from __future__ import annotations

import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch

from dreamvid.arrays import to_uint8
from dreamvid.engine import Engine, seeded_generator
from dreamvid.errors import InputError
from dreamvid.programs import CoherenceState, VideoRecipe
from dreamvid.render import steps
from dreamvid.scale.plan import Chunk
from dreamvid.timeline import Timeline
from dreamvid.video import VideoWriter

__all__ = ["ChunkJob", "ChunkResult", "chunk_rng", "pack", "pack_frames", "render_chunk", "unpack"]


@dataclass(frozen=True)
class ChunkJob:
    """What a worker needs to render one chunk.

    Attributes:
        chunk: which frames (:class:`~dreamvid.scale.plan.Chunk`).
        recipe: how to build the coherence program (engine, layout, flow, seed ...).
        timeline: the per-frame settings (schedules and audio reactions), indexed by the clip's frames.
        fps: the clip's exact frame rate.
        frames: the source frames ``[chunk.warm, chunk.end)`` as PNG bytes (:func:`pack`).
        threads: torch threads for this task.
        format: the output's format, ``"mp4"`` or ``"webm"`` (the body's container and encoder).
        crf: the encoder's quality (as the output's).
    """

    chunk: Chunk
    recipe: VideoRecipe
    timeline: Timeline
    fps: Fraction
    frames: Sequence[bytes]
    threads: int
    format: str = "mp4"
    crf: int = 18


@dataclass(frozen=True)
class ChunkResult:
    """A rendered chunk.

    Attributes:
        index: the chunk's index in the plan.
        body: the encoded body frames ``[start, end − fade_out)`` (empty bytes when there are none).
        body_frames: how many frames the body holds.
        fade_in: the dreamed warm-up frames ``[start − fade_in, start)``, PNG bytes.
        fade_out: the dreamed last frames ``[end − fade_out, end)``, PNG bytes.
        seconds: the task's wall time.
    """

    index: int
    body: bytes
    body_frames: int
    fade_in: tuple[bytes, ...]
    fade_out: tuple[bytes, ...]
    seconds: float


def pack(frame: np.ndarray) -> bytes:
    """An ``(H, W, 3)`` uint8 RGB frame as PNG bytes (fast compression: frames travel, they are not kept).

    Example:
        >>> frame = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
        >>> bool((unpack(pack(frame)) == frame).all())
        True
    """
    ok, data = cv2.imencode(".png", np.ascontiguousarray(frame[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise ValueError(f"cannot compress a frame of shape {frame.shape}")
    return data.tobytes()


def pack_frames(frames: Iterable[np.ndarray], *, threads: int) -> Iterator[bytes]:
    """:func:`pack` each of ``frames`` on ``threads`` threads (PNG compression releases the GIL), in order.

    At most ``2 · threads`` frames are read ahead, so memory stays bounded however long the clip.

    Example:
        >>> frames = [np.full((2, 3, 3), k, np.uint8) for k in range(5)]
        >>> [int(unpack(data)[0, 0, 0]) for data in pack_frames(iter(frames), threads=2)]
        [0, 1, 2, 3, 4]
    """
    if threads <= 1:
        yield from map(pack, frames)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="dreamvid-pack") as pool:
        pending: deque[Future[bytes]] = deque()
        for frame in frames:
            pending.append(pool.submit(pack, frame))
            if len(pending) >= 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def unpack(data: bytes) -> np.ndarray:
    """The ``(H, W, 3)`` uint8 RGB frame of :func:`pack`'s bytes."""
    frame = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise InputError("a chunk's frame arrived damaged; render again with --resume")
    return np.ascontiguousarray(frame[..., ::-1])


def chunk_rng(seed: int, start: int) -> np.ndarray:
    """The generator state a chunk starting at frame ``start`` begins from: the stream ``chunk:START`` of ``seed``."""
    return seeded_generator(seed, f"chunk:{start}").get_state().numpy()


@lru_cache(maxsize=2)
def _engine(recipe: VideoRecipe) -> Engine:
    """The recipe's engine, kept for the next chunk a worker process renders with the same recipe."""
    return recipe.engine()


def render_chunk(job: ChunkJob, *, progress: Callable[[int], None] | None = None) -> ChunkResult:
    """Render ``job``'s chunk: warm up, dream its frames, encode the body, return the faded ends losslessly.

    Args:
        job: the chunk and what it needs.
        progress: called with the number of the chunk's *kept* frames done so far, after each one.

    Raises:
        DreamvidError: bad settings or input (a task that fails so fails the same way again).
    """
    started = time.perf_counter()
    torch.set_num_threads(job.threads)
    chunk = job.chunk
    program = job.recipe.build(_engine(job.recipe))
    state = CoherenceState(chunk.warm, None, None, chunk_rng(job.recipe.seed, chunk.start))
    body_start, body_end = chunk.body
    fade_in: list[bytes] = []
    fade_out: list[bytes] = []
    with tempfile.TemporaryDirectory(prefix="dreamvid-chunk-") as folder:
        body_path = Path(folder) / f"body.{job.format}"
        writer: VideoWriter | None = None
        frames = (unpack(data) for data in job.frames)
        for state, dreamed in steps(program, frames, job.timeline.at, state=state):
            t = state.index - 1
            frame = to_uint8(dreamed)
            if chunk.start - chunk.fade_in <= t < chunk.start:
                fade_in.append(pack(frame))
            elif body_start <= t < body_end:
                if writer is None:
                    writer = VideoWriter(body_path, fps=job.fps, size=(frame.shape[1], frame.shape[0]), crf=job.crf)
                writer.write(frame)
            elif t >= body_end:
                fade_out.append(pack(frame))
            if progress is not None and t >= chunk.start:
                progress(t - chunk.start + 1)
        body = b""
        if writer is not None:
            writer.close()
            body = body_path.read_bytes()
    if state.index != chunk.end:
        raise InputError(f"chunk {chunk.index} got {state.index - chunk.warm} frames, expected {chunk.rendered}; "
                         "the input changed while rendering: render again with --restart")
    return ChunkResult(chunk.index, body, body_end - body_start, tuple(fade_in), tuple(fade_out),
                       time.perf_counter() - started)


def task_memory(width: int, height: int, *, max_memory: int | None) -> int:
    """Bytes of memory a chunk task asks Ray for: the process, its frames and one gradient step.

    About 1 GB for the process and model, 40 bytes a pixel for the frames a coherence step holds, and
    1,100 bytes a pixel for a step (EfficientNet-Lite0, fp32, the engine's measured upper figure) — at
    most ``max_memory``, where the engine dreams bigger frames in tiles.

    Example:
        >>> round(task_memory(1920, 1080, max_memory=2 * 10**9) / 1e9, 2)
        3.08
    """
    step = 1100 * width * height
    if max_memory is not None:
        step = min(step, max_memory)
    return int(1e9 + 40 * width * height + step)
