"""A clip rendered in chunks: ``render_chunks(checkpoint, plan, recipe, timeline, frames) → file``.

Plan (:mod:`dreamvid.scale.plan`) → chunks on Ray (:mod:`dreamvid.scale.driver`) → assembly here: each
chunk's encoded body, then the frames cross-faded at the join with the next chunk (encoded by the driver),
joined without re-encoding, with the sound added once and cut to the frames' duration, the 360° metadata
kept, the output renamed into place only when complete.

The checkpoint beside the output (``.OUTPUT.dreamvid-resume/``) keeps every finished chunk under
``kept/chunk_NNNNN_*`` (its body, its faded frames, the sources of its fade-in) and a ``chunk_NNNNN_done``
marker written last, so a resumed render renders only the chunks without one.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from dreamvid.checkpoint import Checkpoint
from dreamvid.errors import InputError
from dreamvid.programs import VideoRecipe
from dreamvid.scale.chunk import ChunkJob, ChunkResult, pack_frames, unpack
from dreamvid.scale.driver import Cluster, blend, find_cuts, run_chunks
from dreamvid.scale.plan import Chunk, fade_weight, plan_chunks
from dreamvid.timeline import Timeline
from dreamvid.video import SegmentJoiner, VideoWriter, output_format

__all__ = ["ChunkPlan", "chunk_threads", "driver_threads", "make_plan", "render_chunks"]


@dataclass(frozen=True)
class ChunkPlan:
    """A clip's plan: its frame count, the cuts found and the chunks (what ``--plan`` prints)."""

    frames: int
    fps: float
    cuts: tuple[int, ...]
    chunks: tuple[Chunk, ...]

    def describe(self) -> str:
        """The plan as lines of text: one per chunk, then the totals."""
        lines = [f"{'chunk':>5} {'frames kept':>15} {'warm-up':>8} {'fade in':>8} {'fade out':>8}"]
        for c in self.chunks:
            lines.append(f"{c.index:>5} {f'{c.start}-{c.end - 1}':>15} {c.start - c.warm:>8} {c.fade_in:>8} "
                         f"{c.fade_out:>8}")
        rendered = sum(c.rendered for c in self.chunks)
        lines.append(f"{len(self.chunks)} chunks, {self.frames} frames at {self.fps:g} fps, {len(self.cuts)} scene "
                     f"cuts; {rendered} frames rendered ({rendered / self.frames - 1:.1%} warm-up)")
        return "\n".join(lines)


def make_plan(frames: Iterator[np.ndarray], *, fps: float, cut_method: str | None, wrap_x: bool,
              segment_seconds: float, warmup: int, overlap: int) -> ChunkPlan:
    """Read the clip's ``frames`` once and plan its chunks.

    ``cut_method``: the flow method cuts are looked for with (``None``: none); ``warmup = 0`` for renders
    whose frames do not depend on each other.

    Raises:
        InputError: the clip has no frames.
    """
    count, cuts = find_cuts(frames, method=cut_method, wrap_x=wrap_x)
    if count == 0:
        raise InputError("the clip has no frames in the part asked for; check --start/--duration")
    chunks = plan_chunks(count, cuts=cuts, length=max(1, round(segment_seconds * fps)), warmup=warmup,
                         overlap=min(overlap, warmup))
    return ChunkPlan(count, fps, tuple(cuts), tuple(chunks))


def chunk_threads(threads: int, workers: int) -> int:
    """Torch threads per task: ``threads`` (``run.threads``), or the cores divided among ``workers`` (≥ 1)."""
    return threads or max(1, (os.cpu_count() or 1) // max(1, workers))


def driver_threads(workers: int, threads: int, address: str | None) -> int:
    """Threads the driver compresses frames on: every core with a cluster elsewhere (``address``), else the
    cores the local tasks (``workers`` × ``threads``) leave free, at least one.

    Example:
        >>> driver_threads(2, 1, None) == max(1, (os.cpu_count() or 1) - 2)
        True
    """
    cores = os.cpu_count() or 1
    return cores if address is not None else max(1, cores - workers * threads)


def _jobs(plan: ChunkPlan, frames: Iterator[np.ndarray], make: Callable[[Chunk, list[bytes]], ChunkJob],
          skip: set[int], *, threads: int = 1) -> Iterator[ChunkJob]:
    """The jobs of the chunks not in ``skip``, each with its source frames, reading ``frames`` once and
    compressing them on ``threads`` threads."""
    window: deque[tuple[int, bytes]] = deque()  # (index, packed frame) from the earliest warm-up still ahead
    todo = [c for c in plan.chunks if c.index not in skip]
    last = todo[-1].end if todo else 0
    packed = pack_frames(itertools.islice(frames, last), threads=threads)
    position = 0
    for chunk in todo:
        while position < chunk.end:
            data = next(packed, None)
            if data is None:
                raise InputError(f"the input ended at frame {position}, but the plan has {plan.frames} frames; "
                                 "the input changed while rendering: render again with --restart")
            window.append((position, data))
            position += 1
        while window and window[0][0] < chunk.warm:
            window.popleft()
        yield make(chunk, [data for index, data in window if index < chunk.end])


def _keep(checkpoint: Checkpoint, job: ChunkJob, result: ChunkResult) -> None:
    """Keep a finished chunk in the checkpoint; the ``done`` marker is written last."""
    name = f"chunk_{result.index:05d}"
    chunk = job.chunk
    checkpoint.keep(f"{name}_body", np.frombuffer(result.body, np.uint8))
    checkpoint.keep(f"{name}_in", _stack([unpack(d) for d in result.fade_in]))
    checkpoint.keep(f"{name}_out", _stack([unpack(d) for d in result.fade_out]))
    first = chunk.start - chunk.fade_in - chunk.warm
    checkpoint.keep(f"{name}_src", _stack([unpack(d) for d in job.frames[first:first + chunk.fade_in]]))
    checkpoint.keep(f"{name}_done", np.int64(result.body_frames))
    checkpoint.save({"chunks_done": np.int64(len(_done(checkpoint)))})


def _done(checkpoint: Checkpoint) -> set[int]:
    """The chunks the checkpoint holds whole (their ``done`` marker is written last)."""
    return {int(path.name[6:11]) for path in (checkpoint.folder / "kept").glob("chunk_*_done.npy")}


def _stack(frames: list[np.ndarray]) -> np.ndarray:
    return np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8)


def _kept(checkpoint: Checkpoint, name: str) -> np.ndarray:
    found = checkpoint.kept(name)
    if len(found) != 1 or found[0][0] != name:
        raise InputError(f"the checkpoint {checkpoint.folder} is damaged ({name} is missing); add --restart to start over")
    return found[0][1]


def assemble(checkpoint: Checkpoint, plan: ChunkPlan, writer: dict[str, object]) -> Path:
    """Join the kept chunks into the output: body, faded join, body, …, then the sound; returns the output."""
    folder = checkpoint.folder / "segments"
    fmt = output_format(checkpoint.output)
    options = {key: writer[key] for key in ("fps", "size", "crf")}
    segments: list[Path] = []

    def segment() -> Path:
        path = folder / f"seg_{len(segments):06d}.{fmt}"
        segments.append(path)
        return path

    for chunk in plan.chunks:
        name = f"chunk_{chunk.index:05d}"
        body = _kept(checkpoint, f"{name}_body")
        if body.size:
            segment().write_bytes(body.tobytes())
        if chunk.fade_out:
            following = f"chunk_{chunk.index + 1:05d}"
            outgoing, incoming = _kept(checkpoint, f"{name}_out"), _kept(checkpoint, f"{following}_in")
            sources = _kept(checkpoint, f"{following}_src")
            with VideoWriter(segment(), **options) as faded:  # type: ignore[arg-type]
                for i in range(chunk.fade_out):
                    faded.write(blend(outgoing[i], incoming[i], sources[i], fade_weight(i, chunk.fade_out)))
    return SegmentJoiner(checkpoint.output, **writer).join(segments, frames=plan.frames)  # type: ignore[arg-type]


def render_chunks(
    checkpoint: Checkpoint,
    plan: ChunkPlan,
    recipe: VideoRecipe,
    timeline: Timeline,
    frames: Iterator[np.ndarray],
    *,
    writer: dict[str, object],
    fps: Fraction,
    crf: int,
    threads: int,
    workers: int = 1,
    address: str | None = None,
    gpu: bool = False,
    progress: Callable[..., None] | None = None,
    stop: threading.Event | None = None,
) -> Path:
    """Render ``plan``'s chunks not yet in ``checkpoint`` on Ray, then join them into the output.

    Args:
        checkpoint: the render's checkpoint (finished chunks are kept there and skipped).
        plan: the chunks (:func:`make_plan`).
        recipe, timeline: the program and the settings of every frame.
        frames: the clip's source frames from the first, read once.
        writer: the output writer's arguments (fps, size, crf, audio, spherical metadata).
        fps, crf: the clip's frame rate and the encoder's quality.
        threads: torch threads per task.
        workers, address: a local cluster of ``workers`` slots, or a running cluster.
        gpu: each task asks for one GPU.
        progress: ``progress(frames_done, total)`` across all workers.
        stop: set it to end the render (finished chunks stay).

    Returns:
        The output path.
    """
    fmt = output_format(checkpoint.output)
    done = _done(checkpoint)

    def make(chunk: Chunk, packed: list[bytes]) -> ChunkJob:
        return ChunkJob(chunk, recipe, timeline, fps, packed, threads, fmt, crf)

    if len(done) < len(plan.chunks):
        cluster = Cluster(workers, threads, address)
        try:
            before = sum(c.end - c.start for c in plan.chunks if c.index in done)
            jobs = _jobs(plan, frames, make, done, threads=driver_threads(workers, threads, address))
            run_chunks(cluster, jobs, keep=lambda job, result: _keep(checkpoint, job, result),
                       frames_before=before, total=plan.frames, gpu=gpu, progress=progress, stop=stop)
        finally:
            cluster.close()
    return assemble(checkpoint, plan, writer)
