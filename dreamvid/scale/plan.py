"""Chunk plans: ``(frames, cuts, fps, settings) → chunks``, how one clip is split for many workers.

A *chunk* is a run of consecutive frames rendered by one task (the checkpoint's 60-frame encoded pieces
are *segments*). The plan depends only on the clip and the settings, never on the number of workers, so
a render gives the same frames whatever the worker count.

Convention (frame indices are the clip's, from 0; ranges are half-open ``[a, b)``):
    - The clip is split at scene cuts (a cut restarts the dream anyway) and, inside a shot, every
      ``length`` frames; a last piece shorter than ``warmup`` joins the piece before it.
    - A chunk *keeps* ``[start, end)`` and *renders* ``[warm, end)``: a chunk that begins mid-shot first
      renders ``start − warm = warmup`` frames (fewer where the shot begins sooner), seeded as usual and
      thrown away, so its first kept frame carries a dream as developed as a sequential render's.
    - Consecutive chunks of one shot overlap by ``fade`` frames, the last frames of the later chunk's
      warm-up ``[start − fade, start)``, which are also the earlier chunk's last kept frames. Over them
      the two renders are cross-faded in the hallucination layer (dreamed − source); the weight of the
      later chunk at the i-th overlap frame is ``(i + 1) / (fade + 1)``.

Example:
    >>> [(c.warm, c.start, c.end, c.fade_in) for c in plan_chunks(50, cuts=[30], length=12, warmup=4, overlap=2)]
    [(0, 0, 12, 0), (8, 12, 24, 2), (20, 24, 30, 2), (30, 30, 42, 0), (38, 42, 50, 2)]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Chunk", "fade_weight", "plan_chunks"]


@dataclass(frozen=True)
class Chunk:
    """One task's share of a clip.

    Attributes:
        index: the chunk's place in the plan, from 0.
        warm: the first frame it renders (``start`` when the chunk begins a shot).
        start: the first frame it keeps.
        end: one past its last frame.
        fade_in: frames ``[start − fade_in, start)`` of its warm-up that are cross-faded with the chunk
            before (0 at the start of a shot).
        fade_out: its last ``fade_out`` kept frames, cross-faded with the next chunk's warm-up.
    """

    index: int
    warm: int
    start: int
    end: int
    fade_in: int = 0
    fade_out: int = 0

    @property
    def body(self) -> tuple[int, int]:
        """The frames the chunk alone decides (and encodes): ``[start, end − fade_out)``."""
        return self.start, self.end - self.fade_out

    @property
    def rendered(self) -> int:
        """How many frames the chunk renders, warm-up included."""
        return self.end - self.warm


def plan_chunks(
    frames: int,
    *,
    cuts: Sequence[int] = (),
    length: int,
    warmup: int,
    overlap: int,
) -> list[Chunk]:
    """Split ``frames`` frames into chunks at ``cuts`` and every ``length`` frames of a shot.

    Args:
        frames: the clip's frame count (≥ 1).
        cuts: frames that begin a new shot (a scene cut before them); 0 and out-of-range values are ignored.
        length: frames per chunk inside a shot (≥ 1), e.g. ``round(segment_seconds · fps)``.
        warmup: frames a mid-shot chunk renders before its first kept frame (≥ 0).
        overlap: how many of those are cross-faded with the chunk before (0 to ``warmup``).

    Returns:
        The chunks in order; their kept ranges partition ``[0, frames)``.

    Raises:
        ValueError: a count out of range (these come from validated settings; a bad one is a bug).

    Example:
        >>> [(c.start, c.end) for c in plan_chunks(10, length=4, warmup=3, overlap=1)]
        [(0, 4), (4, 10)]
    """
    if frames < 1 or length < 1 or warmup < 0 or not 0 <= overlap <= warmup:
        raise ValueError(f"expected frames >= 1, length >= 1 and 0 <= overlap <= warmup, got "
                         f"frames={frames}, length={length}, warmup={warmup}, overlap={overlap}")
    shots = sorted({0, *(c for c in cuts if 0 < c < frames)}) + [frames]
    bounds: list[tuple[int, int, bool]] = []  # (start, shot start, begins the shot)
    for shot_start, shot_end in zip(shots, shots[1:]):
        starts = list(range(shot_start, shot_end, length))
        if len(starts) > 1 and shot_end - starts[-1] < warmup:
            starts.pop()  # too short to pay for its own warm-up: the piece before takes it
        bounds += [(s, shot_start, s == shot_start) for s in starts]
    ends = [b[0] for b in bounds[1:]] + [frames]
    fades = []  # frames each chunk cross-fades with the chunk before: within both chunks' ranges
    for index, (start, shot_start, begins) in enumerate(bounds):
        previous = bounds[index - 1][0] if index else start
        fades.append(0 if begins else min(overlap, start - max(shot_start, start - warmup), start - previous))
    chunks = []
    for index, ((start, shot_start, begins), end) in enumerate(zip(bounds, ends)):
        warm = start if begins else max(shot_start, start - warmup)
        fade_out = fades[index + 1] if index + 1 < len(bounds) else 0
        chunks.append(Chunk(index, warm, start, end, fades[index], fade_out))
    return chunks


def fade_weight(i: int, fade: int) -> float:
    """The later chunk's weight at the ``i``-th of ``fade`` cross-faded frames: ``(i + 1) / (fade + 1)``.

    Example:
        >>> [round(fade_weight(i, 3), 2) for i in range(3)]
        [0.25, 0.5, 0.75]
    """
    return (i + 1) / (fade + 1)
