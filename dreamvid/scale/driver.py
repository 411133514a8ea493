"""Render one clip across processes and machines with Ray: ``plan → chunks in parallel → assemble``.

The driver (the process the user started) reads the clip twice: once to count its frames and find its
scene cuts (the plan needs both), once to hand each chunk its source frames, compressed, through Ray's
object store — workers need no shared filesystem. Each chunk is one Ray task
(:func:`dreamvid.scale.chunk.render_chunk`); a task whose worker dies is retried by Ray, and one that fails
for a reason that would fail again (bad settings or input) ends the render with its one-line error.
Finished chunks are kept in the render's checkpoint folder, so ``resume`` skips them. The driver blends the
cross-faded frames at each join, encodes them, joins every piece without re-encoding and adds the sound
once, cut to the frames' duration.

Convention:
    - The plan depends on the clip and the settings only (``scale.segment_seconds``, ``scale.warmup``,
      ``scale.overlap``), never on the number of workers; each chunk's random stream comes from
      ``(run.seed, chunk start)`` and each task uses ``threads`` torch threads, so renders with the same
      threads give the same frames whatever the worker count.
    - A local cluster (no address) binds to the loopback interface only.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dreamvid.arrays import to_float, to_uint8
from dreamvid.checkpoint import Checkpoint
from dreamvid.errors import ConfigError, DreamvidError, RenderStopped
from dreamvid.flow import make_flow, scene_cut
from dreamvid.scale.chunk import ChunkJob, ChunkResult, pack, render_chunk, task_memory, unpack
from dreamvid.scale.plan import Chunk, fade_weight, plan_chunks
from dreamvid.video import SegmentJoiner, VideoWriter

__all__ = ["Cluster", "find_cuts", "run_chunks"]

log = logging.getLogger(__name__)

CUT_WIDTH = 480
"""Frames are shrunk to at most this width to find the plan's scene cuts (the test is scale-free)."""


def find_cuts(frames: Iterator[np.ndarray], *, method: str | None, wrap_x: bool = False) -> tuple[int, list[int]]:
    """Count ``frames`` and find the scene cuts the plan splits at: ``(count, [frame after each cut])``.

    ``method``: the render's flow method (``"raft"`` looks with DIS); ``None`` looks for no cuts — only a
    flow-coherent render with ``video.scene_cuts`` restarts its dream at a cut. Frames are shrunk to at
    most :data:`CUT_WIDTH` wide first.
    """
    flow = make_flow("dis" if method == "raft" else method, wrap_x=wrap_x) if method is not None else None
    count, cuts, previous = 0, [], None
    for frame in frames:
        if flow is not None:
            small = _shrink(frame)
            if previous is not None and scene_cut(small, previous, flow(small, previous), wrap_x=wrap_x):
                cuts.append(count)
            previous = small
        count += 1
    return count, cuts


def _shrink(frame: np.ndarray) -> np.ndarray:
    height, width = frame.shape[:2]
    if width <= CUT_WIDTH:
        return frame
    return cv2.resize(frame, (CUT_WIDTH, max(1, round(height * CUT_WIDTH / width))), interpolation=cv2.INTER_AREA)


@dataclass
class Cluster:
    """A connection to Ray: a local cluster of ``workers`` task slots, or an existing one at ``address``.

    Args:
        workers: task slots of a local cluster (ignored with ``address``).
        threads: torch threads (and Ray CPUs) per task.
        address: ``"auto"``, ``"HOST:PORT"`` or ``"ray://HOST:PORT"`` of a running cluster; ``None`` starts
            a local one bound to 127.0.0.1, stopped by :meth:`close`.

    Raises:
        ConfigError: Ray is not installed (with the command that installs it), or the cluster cannot be reached.
    """

    workers: int
    threads: int
    address: str | None = None

    def __post_init__(self) -> None:
        if self.address is None:  # one machine: keep every socket on the loopback interface
            os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
        try:
            import ray
        except ImportError:
            raise ConfigError("--workers and --ray-address need Ray: pip install 'dreamvid[cluster]'") from None
        self.ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            try:
                if self.address is None:
                    ray.init(address="local", num_cpus=self.workers * self.threads, include_dashboard=False,
                             log_to_driver=False, configure_logging=False)
                else:
                    ray.init(address=self.address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "a local cluster"
                raise ConfigError(f"cannot start or reach Ray at {where}: {str(exc).splitlines()[0]}; check "
                                  "--ray-address and that the cluster runs") from None

    @property
    def slots(self) -> int:
        """How many tasks can run at once: the cluster's CPUs over the threads of one task (at least 1)."""
        cpus = int(self.ray.cluster_resources().get("CPU", self.threads))
        return max(1, cpus // self.threads)

    def close(self) -> None:
        """Disconnect; a local cluster started here stops."""
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()


def _remote_render(job: ChunkJob, reporter: Any) -> ChunkResult:
    """The Ray task: render the chunk, reporting its kept frames to the driver's progress actor."""
    return render_chunk(job, progress=lambda done: reporter.report.remote(job.chunk.index, done))


class _Reporter:
    """A Ray actor that sums the frames done per chunk (a retried task starts its chunk's count again)."""

    def __init__(self) -> None:
        self.done: dict[int, int] = {}

    def report(self, index: int, done: int) -> None:
        self.done[index] = done

    def total(self) -> int:
        return sum(self.done.values())


def run_chunks(
    cluster: Cluster,
    jobs: Iterator[ChunkJob],
    *,
    keep: Callable[[ChunkJob, ChunkResult], None],
    frames_before: int,
    total: int,
    gpu: bool = False,
    progress: Callable[..., None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run ``jobs`` on ``cluster`` (at most its slots plus one at a time) and ``keep`` each result as it comes.

    ``jobs`` is consumed lazily, so the driver holds the sources of only the chunks in flight.

    Raises:
        DreamvidError: a task failed for a reason that would fail again (its own one-line message).
        RenderStopped: ``stop`` was set; the tasks in flight are cancelled, the kept chunks stay.
        KeyboardInterrupt: likewise on Ctrl-C.
    """
    ray = cluster.ray
    task = ray.remote(max_retries=3, retry_exceptions=False)(_remote_render)
    reporter = ray.remote(num_cpus=0)(_Reporter).remote()
    pending: dict[Any, ChunkJob] = {}
    done_frames = frames_before
    queue = iter(jobs)
    exhausted = False
    try:
        while True:
            while not exhausted and len(pending) < cluster.slots + 1:
                job = next(queue, None)
                if job is None:
                    exhausted = True
                    break
                height, width = unpack(job.frames[0]).shape[:2]
                options = dict(num_cpus=job.threads, memory=task_memory(width, height,
                                                                        max_memory=job.recipe.max_memory))
                if gpu:
                    options["num_gpus"] = 1
                pending[task.options(**options).remote(job, reporter)] = job
            if not pending:
                return
            if stop is not None and stop.is_set():
                raise RenderStopped(done_frames)
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
            for ref in ready:
                job = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    cause = exc.cause if isinstance(getattr(exc, "cause", None), DreamvidError) else None
                    if cause is not None:
                        raise cause from None
                    raise DreamvidError(f"chunk {job.chunk.index} (frames {job.chunk.start}-{job.chunk.end - 1}) "
                                        f"failed: {str(exc).strip().splitlines()[-1]}") from None
                except ray.exceptions.RayError as exc:
                    raise DreamvidError(f"chunk {job.chunk.index} failed after retries: "
                                        f"{str(exc).strip().splitlines()[0]}; continue with --resume") from None
                keep(job, result)
                done_frames += job.chunk.end - job.chunk.start
            if progress is not None:
                running = ray.get(reporter.total.remote())
                progress(min(total, done_frames + running), total)
    except KeyboardInterrupt:
        # No cancel on Ctrl-C: cancelling tasks right after the signal crashed Ray's core worker in the driver
        # ("Tried to complete task that was not pending", Ray 2.60; two runs in about ten, with and without
        # force): exit 1 and a C++ stack instead of the resume hint. The caller disconnects from Ray next, and
        # Ray ends the tasks a driver leaves behind.
        raise
    except BaseException:  # stop, or a chunk that failed: end the other tasks, the driver stays connected
        for ref in pending:
            ray.cancel(ref, force=False)
        raise


def blend(outgoing: np.ndarray, incoming: np.ndarray, source: np.ndarray, weight: float) -> np.ndarray:
    """Cross-fade two renders of one frame in the hallucination layer, keeping the layer's energy.

    With ``H = D − F`` for each render: ``F + s · ((1 − w)·H_out + w·H_in)``, where the scalar ``s`` makes the
    layer's energy ``Σ H²`` the weighted mean of the two renders' energies. Two renders of one scene dream
    different details, which a plain linear fade would partly cancel (the dream thins by up to half in
    the middle of the fade); ``s`` keeps it as strong as on either side.

    Example:
        >>> f, a, b = (np.full((1, 1, 3), v, np.uint8) for v in (100, 120, 160))
        >>> blend(a, b, f, 0.25)[0, 0].tolist()  # layers 20 and 60: linear 30, energy-matched 34.6
        [135, 135, 135]
    """
    base = to_float(source)
    out, inc = to_float(outgoing) - base, to_float(incoming) - base
    layer = (1 - weight) * out + weight * inc
    energy = float(np.square(layer, dtype=np.float64).sum())
    target = (1 - weight) * float(np.square(out, dtype=np.float64).sum()) + weight * float(
        np.square(inc, dtype=np.float64).sum())
    if energy > 0:
        layer *= np.float32(np.sqrt(target / energy))
    return to_uint8(base + layer)
