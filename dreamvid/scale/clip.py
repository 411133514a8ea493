"""A clip rendered in chunks: ``render_video_chunked(config, input, output, workers=N) → file``.

Plan (:mod:`dreamvid.scale.plan`) → chunks on Ray (:mod:`dreamvid.scale.driver`) → assembly here: each
chunk's encoded body, then the frames cross-faded at the join with the next chunk (encoded by the driver),
joined without re-encoding, with the sound added once and cut to the frames' duration, the 360° metadata
kept, the output renamed into place only when complete.

The checkpoint beside the output (``.OUTPUT.dreamvid-resume/``) keeps every finished chunk under
``kept/chunk_NNNNN_*`` (its body, its faded frames, the sources of its fade-in) and a ``chunk_NNNNN_done``
marker written last, so a resumed render renders only the chunks without one.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamvid.checkpoint import Checkpoint
from dreamvid.errors import ConfigError, InputError
from dreamvid.scale.chunk import ChunkJob, ChunkResult, pack, unpack
from dreamvid.scale.driver import Cluster, blend, find_cuts, run_chunks
from dreamvid.scale.plan import Chunk, fade_weight, plan_chunks
from dreamvid.settings import Config
from dreamvid.video import SegmentJoiner, VideoWriter, output_format, probe, read_frames

__all__ = ["ChunkPlan", "plan_video", "render_video_chunked"]


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


def _settings_plan(config: Config, frames: int, cuts: Sequence[int], fps: float) -> list[Chunk]:
    scale = config.scale
    independent = config.video.coherence == "none"  # no frame depends on another: nothing to warm up
    return plan_chunks(frames, cuts=cuts, length=max(1, round(scale.segment_seconds * fps)),
                       warmup=0 if independent else scale.warmup, overlap=0 if independent else scale.overlap)


def plan_video(config: Config, input: str | os.PathLike, *, start: float = 0.0, duration: float | None = None,
               frames: int | None = None, width: int | None = None, wrap_x: bool = False) -> ChunkPlan:
    """Read the clip once and plan its chunks (frame count, scene cuts, ``[scale]`` settings).

    Raises:
        InputError: the clip cannot be read or has no frames in the part asked for.
    """
    info = probe(input)
    count, cuts = find_cuts(iter(read_frames(input, start=start, duration=duration, frames=frames, width=width,
                                             info=info)), config, wrap_x=wrap_x)
    if count == 0:
        raise InputError(f"{input} has no frames in the part asked for; check --start/--duration")
    return ChunkPlan(count, float(info.fps), tuple(cuts), tuple(_settings_plan(config, count, cuts, float(info.fps))))


def _jobs(plan: ChunkPlan, frames: Iterator[np.ndarray], make: Callable[[Chunk, list[bytes]], ChunkJob],
          skip: set[int]) -> Iterator[ChunkJob]:
    """The jobs of the chunks not in ``skip``, each with its source frames, reading ``frames`` once."""
    window: deque[tuple[int, bytes]] = deque()  # (index, packed frame) from the earliest warm-up still ahead
    todo = [c for c in plan.chunks if c.index not in skip]
    position = 0
    for chunk in todo:
        while position < chunk.end:
            frame = next(frames, None)
            if frame is None:
                raise InputError(f"the input ended at frame {position}, but the plan has {plan.frames} frames; "
                                 "the input changed while rendering: render again with --restart")
            window.append((position, pack(frame)))
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


def render_video_chunked(
    config: Config,
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    workers: int | None = None,
    address: str | None = None,
    start: float = 0.0,
    duration: float | None = None,
    frames: int | None = None,
    width: int | None = None,
    audio: str | os.PathLike | None = None,
    progress: Callable[..., None] | None = None,
    resume: bool = False,
    restart: bool = False,
    stop: threading.Event | None = None,
) -> Path:
    """Render a clip in chunks on Ray into ``output`` (MP4 or WebM), with its sound.

    Args:
        workers: task slots of a local Ray cluster (``address`` unset); each task gets
            ``run.threads`` torch threads (0: the machine's cores divided by ``workers``).
        address: a running cluster (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:PORT"``).
        start, duration, frames, width, audio, resume, restart, stop: as :func:`dreamvid.pipeline.render_video`.
        progress: ``progress(frames_done, frames_total)`` across all workers.

    Returns:
        The output path.

    Raises:
        ConfigError: not MP4/WebM, Ray missing or unreachable; and what a sequential render raises.
        RenderStopped: ``stop`` was set (finished chunks stay in the checkpoint).
    """
    from dreamvid import pipeline  # the pipeline's own checks and resolution, shared with sequential renders

    fmt = output_format(output)
    if fmt not in ("mp4", "webm"):
        raise ConfigError(f"a render in chunks (--workers, --ray-address) writes MP4 or WebM, not {fmt}; "
                          "choose an .mp4 or .webm output")
    threads = chunk_threads(config, workers)
    info = probe(input)
    reader = read_frames(input, start=start, duration=duration, frames=frames, width=width, info=info)
    first = next(iter(reader), None)
    if first is None:
        raise InputError(f"{input} has no frames in the part asked for; check --start/--duration")
    size = (first.shape[1], first.shape[0])
    layout = pipeline.layout_for(config, size, input=input)
    plan = plan_video(config, input, start=start, duration=duration, frames=frames, width=width,
                      wrap_x=layout.equirect)
    fps = info.fps
    timeline = pipeline.timeline_for(config, fps=float(fps), frames=plan.frames,
                                     audio=audio if audio is not None else input,
                                     start=0.0 if audio is not None else start,
                                     duration=duration if audio is None else None,
                                     own=audio is None and not info.has_audio)
    if audio is not None:
        sound, sound_start, sound_duration = audio, 0.0, None
    else:
        sound, sound_start, sound_duration = (input if info.has_audio else None), start, duration
    identity = pipeline.identity_for(config, "video", inputs={"input": input, "--audio": audio}, arguments={
        "--start": start, "--duration": duration, "--frames": frames, "--width": width, "chunked": True,
        "threads": threads})
    writer = dict(fps=fps, size=size, audio_from=sound, audio_start=sound_start, audio_duration=sound_duration,
                  crf=config.video.crf, inputs=[input], spherical=pipeline.spherical_for(config, layout))
    with Checkpoint(output, identity=identity, resume=resume, restart=restart, writer=writer) as checkpoint:
        done = {int(name[6:11]) for name, _ in checkpoint.kept("chunk_") if name.endswith("_done")}
        cluster = Cluster(workers or 1, threads, address)
        try:
            def make(chunk: Chunk, packed: list[bytes]) -> ChunkJob:
                return ChunkJob(chunk, config, timeline, layout, fps, packed, threads, fmt)

            jobs = _jobs(plan, iter(read_frames(input, start=start, duration=duration, frames=frames, width=width,
                                                info=info)), make, done)
            before = sum(c.end - c.start for c in plan.chunks if c.index in done)
            run_chunks(cluster, jobs, keep=lambda job, result: _keep(checkpoint, job, result), frames_before=before,
                       total=plan.frames, gpu=pipeline.uses_cuda(config), progress=progress, stop=stop)
        finally:
            cluster.close()
        out = assemble(checkpoint, plan, writer)
        pipeline.save_sidecar(config, out, input=input, extra={
            "start": start, "duration": duration, "frames": plan.frames, "fps": str(fps),
            "chunks": len(plan.chunks), "threads": threads})
        checkpoint.remove()
    return out


def chunk_threads(config: Config, workers: int | None) -> int:
    """Torch threads per task: ``run.threads``, or the machine's cores divided among ``workers`` (at least 1)."""
    if config.run.threads:
        return config.run.threads
    return max(1, (os.cpu_count() or 1) // max(1, workers or 1))
