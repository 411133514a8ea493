"""A render in a thread, watched from a generator: ``work(progress, stop) → Iterator[Report]``.

The render function gets the API's ``progress(done, total, preview=None)`` callback, which puts what it
is told on a queue, and a ``stop`` :class:`threading.Event`. The generator drains the queue and yields a
:class:`Report` at most every :data:`EVERY` seconds (and at the end); when the generator is closed early
(the page or client cancelled) it sets ``stop`` and waits for the render to end, so no render outlives
its page.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

EVERY = 0.4
"""Seconds between two reports while a render runs."""

Work = Callable[[Callable[..., None], threading.Event], Path]


@dataclass(frozen=True)
class Report:
    """Where a render stands: ``status`` (one line), the latest ``preview`` frame (uint8 RGB, or None), and
    at the end the ``output`` path or the ``error`` it raised."""

    status: str
    preview: np.ndarray | None = None
    output: Path | None = None
    error: BaseException | None = None
    done: bool = False


class _Meter:
    """Turns ``(done, total)`` calls into ``"frame 3/8 · 1.52 frames/s · ETA 0m03s"``; the rate counts from
    the first call (a resumed render starts with frames already done)."""

    def __init__(self, unit: str) -> None:
        self.unit = unit
        self.start: float | None = None
        self.first = 0

    def line(self, done: int, total: int) -> str:
        now = time.monotonic()
        if self.start is None:
            self.start, self.first = now, done
        rate = (done - self.first) / max(now - self.start, 1e-9)
        text = f"{self.unit} {done}/{total}"
        if rate > 0:
            eta = int(round((total - done) / rate))
            text += f" · {rate:.2f} {self.unit}s/s · ETA {eta // 60}m{eta % 60:02d}s"
        return text


def watch(work: Work, *, unit: str = "frame", stop: threading.Event | None = None,
          label: str = "") -> Iterator[Report]:
    """Run ``work(progress, stop)`` in a thread and yield reports until it ends.

    The last report has ``done`` set and the ``output`` (or the ``error``, which is not raised here).

    Example:
        >>> def work(progress, stop):
        ...     for k in range(1, 4):
        ...         progress(k, 3)
        ...     return Path("out.png")
        >>> [report.output for report in watch(work)][-1]
        PosixPath('out.png')
    """
    stop = stop if stop is not None else threading.Event()
    events: queue.Queue = queue.Queue()
    meter = _Meter(unit)
    prefix = f"{label}: " if label else ""

    def progress(done: int, total: int, preview: np.ndarray | None = None) -> None:
        events.put((done, total, preview))

    def run() -> None:
        try:
            events.put(("end", work(progress, stop), None))
        except BaseException as exc:  # noqa: BLE001 -- handed to the page, which shows it
            events.put(("end", None, exc))

    thread = threading.Thread(target=run, name="dreamvid-ui-render", daemon=True)
    thread.start()
    status, preview, last = f"{prefix}starting", None, 0.0
    try:
        yield Report(status)
        while True:
            try:
                item = events.get(timeout=EVERY)
            except queue.Empty:
                continue
            if item[0] == "end":
                yield Report(status, preview, output=item[1], error=item[2], done=True)
                return
            done, total, frame = item
            status = prefix + meter.line(done, total)
            preview = frame if frame is not None else preview
            if time.monotonic() - last >= EVERY:
                last = time.monotonic()
                yield Report(status, preview)
    finally:
        if thread.is_alive():  # closed early: the page or the client cancelled
            stop.set()
        thread.join()
