"""Checkpoints: a render keeps its work beside its output, so an interrupted render continues exactly.

``Checkpoint(output, identity=..., writer=...)`` → per frame ``write(frame)`` then ``save(state)`` →
``finish()`` → the output; :meth:`Checkpoint.remove` then deletes the folder. The folder is
``.OUTPUT.dreamvid-resume/`` beside the output (:func:`checkpoint_dir`)::

    render.json   what is rendered (the identity: resolved config, inputs with size, modification time
                  and a hash of their first and last MiB, render arguments, versions); written once
    state.npz     frames done and what the next frame needs (previous frames, random state), replaced
                  atomically after every frame
    frames/       lossless PNG frames frame_000000.png, ...: those not yet in a segment (MP4/WebM), or
                  every frame (GIF and PNG-frames outputs, encoded at the end)
    segments/     MP4/WebM: finished segments seg_000000.mp4, ... of video.segment_frames frames each
    kept/         arrays written once, by name (a loop's first frames, preview samples)

Convention:
    - Frame ``k`` (from 0) belongs to segment ``k // n`` with ``n`` the segment length whatever the
      interruptions, so a resumed and an uninterrupted render encode the same frames into the same
      segments, and the joined videos decode to the same frames.
    - Each segment starts on a keyframe, and a keyframe renews the fine detail that P-frames keep stale:
      the dream ticks there (the pair into it flickers 1.7–2.0× the others at crf 18, docs/benchmarks.md).
      Segments are as long as x264's own keyframe interval (250 frames) while their pending PNGs stay
      under :data:`PENDING_BYTES` (1080p and smaller), and never shorter than 60 frames.
    - Order of writes: the frame, then (when it completes a segment) the segment, then the state that
      counts it. Each file is written atomically (:mod:`dreamvid.fileio`), so after Ctrl-C,
      ``kill -9`` or a power cut the state never counts a frame that is not on disk. Whatever lies beyond
      the state (a frame or segment written just before the crash) is dropped on resume and made again.
    - ``identity`` is a flat mapping of JSON values (``"dream.steps"``, ``"--frames"``, ``"input"``, ...);
      a checkpoint resumes only a render with an equal identity, and otherwise says which keys differ.
    - A checkpoint is checked whole when it is opened, before any frame is made: the state file, every
      frame it counts (present, a sound PNG of the output's size, decodable), every segment (present, not
      empty) and every kept array. Anything else says it is damaged and how to start over (``--restart``).

The joined output gets its audio and is renamed into place by :mod:`dreamvid.video`'s writers.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable, Mapping
from itertools import chain
from pathlib import Path
from typing import IO, Any

import numpy as np

from dreamvid.errors import CheckpointError, DreamvidError, OutputError
from dreamvid.fileio import atomic_write, fsync_path, remove_stale_parts
from dreamvid.images import read_image, write_image
from dreamvid.video import SegmentJoiner, VideoWriter, output_format

__all__ = ["Checkpoint", "CheckpointFound", "auto_segment_frames", "checkpoint_dir", "file_identity",
           "frames_kept", "work_done"]

log = logging.getLogger(__name__)

SEGMENT_FRAMES_MIN = 60
"""Fewest frames per encoded segment of an MP4/WebM output (frames of 4K and more)."""

SEGMENT_FRAMES_MAX = 250
"""Most frames per segment: x264's default keyframe interval, so a segment adds no keyframe x264 would not."""

PENDING_BYTES = 1_600_000_000
"""Raw RGB bytes of the frames a segment may keep as PNG before it is encoded (250 frames of 1920×1080)."""

LAYOUT = 2
"""Version of the folder layout; part of every identity, so a checkpoint of another layout is refused."""

_RENDER = "render.json"
_STATE = "state.npz"
_FRAME_RE = re.compile(r"frame_(\d{6})\.png")
_SEGMENT_RE = re.compile(r"seg_(\d{6})\.(mp4|webm)")
_KEPT_RE = re.compile(r"(\w+)\.npy")
_ENTRIES_RE = re.compile(r"render\.json|state\.npz|frames|segments|kept")


def auto_segment_frames(width: int, height: int) -> int:
    """Frames per encoded segment of a ``width × height`` MP4/WebM render: as many as :data:`PENDING_BYTES`
    of raw frames, from :data:`SEGMENT_FRAMES_MIN` to :data:`SEGMENT_FRAMES_MAX`.

    Example:
        >>> auto_segment_frames(1920, 1080), auto_segment_frames(3840, 2160), auto_segment_frames(7680, 3840)
        (250, 64, 60)
    """
    fits = PENDING_BYTES // max(1, 3 * width * height)
    return int(max(SEGMENT_FRAMES_MIN, min(SEGMENT_FRAMES_MAX, fits)))


class CheckpointFound(CheckpointError):
    """A checkpoint of an earlier render of the output exists, and neither resume nor restart was asked for.

    Attributes:
        frames_done: frames the earlier render finished (in order; 0 for a render in chunks).
        matches: whether it was made with the same settings (so that it can be resumed).
        done: what was finished, in words: ``"12 frames"``, or ``"3 finished chunks"`` for a render in chunks.
    """

    def __init__(self, message: str, *, frames_done: int, matches: bool, done: str | None = None) -> None:
        super().__init__(message)
        self.frames_done = frames_done
        self.matches = matches
        self.done = done if done is not None else f"{frames_done} frames"


def checkpoint_dir(output: str | os.PathLike[str]) -> Path:
    """The checkpoint folder of a render of ``output``: ``.NAME.dreamvid-resume`` beside it.

    Example:
        >>> checkpoint_dir("renders/dream.mp4").name
        '.dream.mp4.dreamvid-resume'
    """
    path = Path(output)
    return path.absolute().parent / f".{path.name}.dreamvid-resume"


_HASHED = 1 << 20
"""Bytes hashed at each end of an input: a changed input keeps neither its first nor its last MiB, as a rule."""


def file_identity(path: str | os.PathLike[str]) -> dict[str, object]:
    """``{"path", "size", "mtime_ns", "content"}`` of an input, to tell whether it changed since a checkpoint.

    ``content`` is the SHA-256 of the first and last MiB (the whole file when it is smaller), so an input
    rewritten with the same size and modification time is noticed too. A folder (of frames) or a file that
    cannot be read has only what can be known.

    Example:
        >>> sorted(file_identity(__file__))
        ['content', 'mtime_ns', 'path', 'size']
    """
    source = Path(path)
    try:
        stat = source.stat()
    except OSError:
        return {"path": str(source.absolute())}
    identity: dict[str, object] = {"path": str(source.absolute()), "size": stat.st_size,
                                   "mtime_ns": stat.st_mtime_ns}
    try:
        if source.is_file():
            digest = hashlib.sha256()
            with source.open("rb") as stream:
                digest.update(stream.read(_HASHED))
                if stat.st_size > _HASHED:
                    stream.seek(max(_HASHED, stat.st_size - _HASHED))
                    digest.update(stream.read(_HASHED))
            identity["content"] = digest.hexdigest()
    except OSError:
        pass
    return identity


def frames_kept(output: str | os.PathLike[str]) -> int | None:
    """Frames done in the checkpoint of a render of ``output``, or None when it has none (or nothing in it)."""
    folder = checkpoint_dir(output)
    return _read_frames_done(folder) if (folder / _RENDER).is_file() and (folder / _STATE).is_file() else None


class Checkpoint:
    """The checkpoint of one render of ``output``: its frames so far, the state after the last, the final join.

    A context manager: while it is open it holds a lock (``.NAME.dreamvid-resume.lock`` beside the output,
    released by :meth:`close`, or by the system when the process dies), so two renders never write the same
    checkpoint. Nothing else is written until the first :meth:`write`, :meth:`save` or :meth:`keep`, so a
    render that fails before its first frame leaves nothing behind; after :meth:`finish` and :meth:`remove`
    nothing is left either.

    Args:
        output: the render's output path (MP4, WebM, GIF or a PNG-frames folder).
        identity: what makes two renders the same (see the module docstring); JSON values.
        writer: keyword arguments of :class:`~dreamvid.video.VideoWriter` for the output: ``fps``, ``size``
            and ``crf`` (used for the segments too), ``audio_from``, ``audio_start``, ``inputs``, ...
        resume: continue the checkpoint of an earlier render (start from the first frame if there is none).
        restart: delete the checkpoint of an earlier render and start over.
        segment_frames: frames per encoded segment (MP4/WebM); 0: :func:`auto_segment_frames` of the size.

    Attributes:
        frames_done: frames recorded by the last :meth:`save` (restored when resuming).
        state: the arrays of the last :meth:`save` (restored when resuming; empty when starting).
        segment_frames: frames per encoded segment (MP4/WebM; ``segment_frames`` or :func:`auto_segment_frames`).

    Raises:
        CheckpointFound: a checkpoint exists and neither ``resume`` nor ``restart`` is set.
        CheckpointError: ``resume`` but the checkpoint belongs to a render with other settings (the message
            names the keys that differ) or is damaged; another render of ``output`` is running; or ``resume``
            and ``restart`` together.
        OutputError, InputError, ConfigError: the output or its audio cannot be written or read (checked up
            front, by constructing the final writer).

    Example:
        >>> import tempfile
        >>> from fractions import Fraction
        >>> out = Path(tempfile.mkdtemp()) / "grey.mp4"
        >>> with Checkpoint(out, identity={"level": 128}, writer={"fps": Fraction(25), "size": (64, 48)}) as checkpoint:
        ...     for k in range(3):
        ...         checkpoint.write(np.full((48, 64, 3), 128, np.uint8))
        ...         checkpoint.save({"last": np.array(k)})
        ...     print(checkpoint.finish().name, checkpoint_dir(out).is_dir())
        ...     checkpoint.remove()
        grey.mp4 True
        >>> checkpoint_dir(out).exists()
        False
    """

    def __init__(
        self,
        output: str | os.PathLike[str],
        *,
        identity: Mapping[str, object],
        writer: Mapping[str, Any],
        resume: bool = False,
        restart: bool = False,
        segment_frames: int = 0,
    ) -> None:
        if resume and restart:
            raise CheckpointError("--resume and --restart exclude each other; give one of them")
        self.output = Path(output)
        self.format = output_format(output)
        self.folder = checkpoint_dir(output)
        self.identity: dict[str, object] = json.loads(json.dumps(
            {"checkpoint": LAYOUT, "format": self.format, **identity}, default=str))
        self.frames_done = 0
        self.state: dict[str, np.ndarray] = {}
        self._writer = dict(writer)
        self._segmented = self.format in ("mp4", "webm")
        size = self._writer.get("size")
        self.segment_frames = segment_frames or (auto_segment_frames(*size) if size else SEGMENT_FRAMES_MIN)
        self._written = 0  # frames written, counted by the next save()
        self._encoded: list[Path] = []  # frames now in a segment, deleted after the next save()
        self._created = False
        SegmentJoiner(self.output, **self._writer).abort()  # can the output and its audio be written and read?
        self._lock = _lock(self.folder.with_name(self.folder.name + ".lock"), self.output)
        try:
            for part in remove_stale_parts(self.output):  # a render killed while joining or adding the sound
                log.info("removed %s, left by an interrupted render", part)
            if frames_kept(output) is not None and not restart:
                self._open(resume=resume)
            elif self.folder.exists():  # restart, or a render stopped before it saved anything: nothing to lose
                self.remove()
            elif resume:
                log.warning("no checkpoint of an earlier render of %s was found; starting from the first frame",
                            output)
        except BaseException:
            self.close()
            raise
        self._written = self.frames_done

    # -- public API

    def write(self, frame: np.ndarray) -> None:
        """Keep the next frame, ``(H, W, 3)`` uint8 RGB, losslessly; it counts once :meth:`save` records it."""
        self._create()
        index = self._written
        write_image(self._frame_path(index), frame)
        self._written += 1
        if self._segmented and self._written % self.segment_frames == 0:
            self._encode_segment(index // self.segment_frames)

    def save(self, state: Mapping[str, np.ndarray]) -> None:
        """Record (atomically) that the frames written so far are done, and ``state``: what the next one needs."""
        self._create()
        arrays = {name: np.asarray(value) for name, value in state.items()}
        self._atomic(self.folder / _STATE, lambda stream: np.savez(
            stream, frames_done=np.asarray(self._written, np.int64), **arrays))
        self.frames_done, self.state = self._written, arrays
        for path in self._encoded:
            path.unlink(missing_ok=True)
        self._encoded.clear()

    def keep(self, name: str, array: np.ndarray) -> None:
        """Keep an array under ``name`` (letters, digits, ``_``), written once: a loop's first frame, a sample."""
        if _KEPT_RE.fullmatch(f"{name}.npy") is None:
            raise ValueError(f"expected a name of letters, digits and '_', got {name!r}")
        self._create()
        self._atomic(self.folder / "kept" / f"{name}.npy", lambda stream: np.save(stream, np.asarray(array)))

    def kept(self, prefix: str) -> list[tuple[str, np.ndarray]]:
        """The kept arrays whose names start with ``prefix``, as ``(name, array)`` in name order."""
        folder = self.folder / "kept"
        if not folder.is_dir():
            return []
        names = sorted(found.group(1) for entry in os.scandir(folder)
                       if (found := _KEPT_RE.fullmatch(entry.name)) and found.group(1).startswith(prefix))
        return [(name, np.load(folder / f"{name}.npy", allow_pickle=False)) for name in names]

    def finish(self) -> Path:
        """Encode what is left, join it into the output with its audio and move it into place.

        The checkpoint stays until :meth:`remove`, so a failure here (a full disk) can be resumed.

        Returns:
            The output path.

        Raises:
            OutputError: no frame was written, or encoding or writing the output failed.
        """
        if self._written != self.frames_done:
            raise ValueError("save() the state after the last write() before finish()")
        if self._segmented:
            count = -(-self._written // self.segment_frames)
            if self._written % self.segment_frames:
                self._encode_segment(count - 1)
            segments = [self._segment_path(s) for s in range(count)]
            return SegmentJoiner(self.output, **self._writer).join(segments, frames=self._written)
        with VideoWriter(self.output, **self._writer) as writer:
            for index in range(self._written):
                writer.write(read_image(self._frame_path(index)))
        return writer.path

    def remove(self) -> None:
        """Delete the checkpoint folder (after the output is in place, or to start over)."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self._created = False

    def close(self) -> None:
        """Release the lock; the folder stays for a later resume. Safe to call twice."""
        if self._lock is not None:
            Path(self._lock.name).unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- steps

    def _open(self, *, resume: bool) -> None:
        """Check an existing checkpoint against this render; restore it when resuming."""
        try:
            recorded = json.loads((self.folder / _RENDER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise CheckpointError(f"the checkpoint {self.folder} is damaged ({_RENDER} is unreadable); add "
                                  "--restart to start over") from None
        done = _read_frames_done(self.folder)
        differ = _differences(recorded, self.identity)
        _, chunks = _work_done(self.folder)  # a render in chunks keeps whole chunks, not frames in order
        finished = f"{chunks} finished chunk{'s' * (chunks != 1)}" if chunks and not done else f"{done} frames"
        if not resume and differ:
            raise CheckpointFound(f"a checkpoint of an earlier render of {self.output} with other settings exists "
                                  f"({differ}): add --restart to discard it and start over, or write to another "
                                  "output", frames_done=done, matches=False, done=finished)
        if not resume:
            raise CheckpointFound(f"a checkpoint of an earlier render exists ({finished} done, in {self.folder}): "
                                  "add --resume to continue it, or --restart to start over", frames_done=done,
                                  matches=True, done=finished)
        if differ:
            raise CheckpointError(f"cannot resume {self.output}: its checkpoint was made with other settings: "
                                  f"{differ}; render with the same settings, or add --restart to start over")
        self._created = True
        self._restore()

    def _restore(self) -> None:
        """Load the state, drop what lies beyond it, and check that every frame it counts is on disk."""
        path = self.folder / _STATE
        if path.is_file():
            try:
                with np.load(path, allow_pickle=False) as data:
                    self.state = {name: data[name] for name in data.files if name != "frames_done"}
                    self.frames_done = int(data["frames_done"])
            except (OSError, ValueError, KeyError, zipfile.BadZipFile):
                raise CheckpointError(f"the checkpoint {self.folder} is damaged ({_STATE} is unreadable); add "
                                      "--restart to start over") from None
        done = self.frames_done
        n = self.segment_frames
        pending = done // n * n if self._segmented else 0  # first frame not in a segment
        _prune(self.folder / "frames", _FRAME_RE, lambda k: pending <= k < done)
        _prune(self.folder / "segments", _SEGMENT_RE, lambda s: s < done // n and self._segmented)
        _prune(self.folder / "kept", _KEPT_RE, None)
        _prune(self.folder, _ENTRIES_RE, None)
        segments = done // n if self._segmented else 0
        problems = chain((self._frame_problem(self._frame_path(k)) for k in range(pending, done)),
                         (_segment_problem(self._segment_path(s)) for s in range(segments)),
                         (_array_problem(Path(entry.path)) for entry in _entries(self.folder / "kept")))
        problem = next((found for found in problems if found is not None), None)  # stops at the first
        if problem is not None:
            raise CheckpointError(f"the checkpoint {self.folder} is damaged ({problem}); add --restart to start "
                                  "over")
        log.info("resuming %s after %d frames", self.output, done)

    def _frame_problem(self, path: Path) -> str | None:
        """What is wrong with a kept frame (missing, damaged, another size), or None: it reads back as written."""
        if not path.is_file():
            return f"{path.name} is missing"
        problem = _png_problem(path.read_bytes())
        if problem is not None:
            return f"{path.name} {problem}"
        try:
            frame = read_image(path)
        except DreamvidError:
            return f"{path.name} cannot be decoded"
        width, height = self._writer.get("size", (frame.shape[1], frame.shape[0]))
        if frame.shape != (height, width, 3):
            return f"{path.name} is {frame.shape[1]}x{frame.shape[0]} pixels, not {width}x{height}"
        return None

    def _create(self) -> None:
        """Make the folder and write the identity, once, before the first file."""
        if self._created:
            return
        try:
            for sub in ("frames", "segments", "kept"):
                (self.folder / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the checkpoint {self.folder}: {exc.strerror or exc}") from None
        text = json.dumps(self.identity, indent=2) + "\n"
        self._atomic(self.folder / _RENDER, lambda stream: stream.write(text.encode("utf-8")))
        fsync_path(self.folder.parent)
        self._created = True

    def _encode_segment(self, segment: int) -> None:
        """Encode the kept frames of ``segment`` into its file (atomically), to delete them after the next save."""
        n = self.segment_frames
        first, end = segment * n, min((segment + 1) * n, self._written)
        options = {key: self._writer[key] for key in ("fps", "size", "crf") if key in self._writer}
        with VideoWriter(self._segment_path(segment), **options) as writer:
            for index in range(first, end):
                writer.write(read_image(self._frame_path(index)))
        self._encoded += [self._frame_path(index) for index in range(first, end)]

    def _frame_path(self, index: int) -> Path:
        return self.folder / "frames" / f"frame_{index:06d}.png"

    def _segment_path(self, segment: int) -> Path:
        return self.folder / "segments" / f"seg_{segment:06d}.{self.format}"

    def _atomic(self, path: Path, write: Callable[[IO[bytes]], object]) -> None:
        """Write ``path`` atomically (a part file, fsync, rename, fsync the folder)."""
        with atomic_write(path, failure=f"cannot write the checkpoint {path}",
                          hint="make room, then continue with --resume") as stream:
            write(stream)


def _lock(path: Path, output: Path) -> IO[bytes] | None:
    """Open and lock ``path`` (without waiting), or raise if another render holds it; None without ``fcntl``."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        return None
    try:
        stream = open(path, "ab")
    except OSError as exc:
        raise OutputError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        stream.close()
        raise CheckpointError(f"another dreamvid render of {output} is running (it holds {path}); wait for it "
                              "to finish or stop it first") from None
    return stream


def _png_problem(data: bytes) -> str | None:
    """What makes ``data`` other than a whole PNG (every chunk's CRC checked, up to IEND), or None.

    Checked before decoding, so a garbled frame is named here rather than by the decoder's own messages.

    Example:
        >>> _png_problem(b"GIF89a"), _png_problem(b"\\x89PNG\\r\\n\\x1a\\n")
        ('is not a PNG', 'is cut short')
    """
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "is not a PNG"
    at = 8
    while at + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        end = at + 8 + length
        if end + 4 > len(data):
            break
        if zlib.crc32(data[at + 4:end]) != struct.unpack(">I", data[end:end + 4])[0]:
            return f"is garbled (its {kind.decode('latin-1')!r} chunk fails its checksum)"
        if kind == b"IEND":
            return None
        at = end + 4
    return "is cut short"


def _segment_problem(path: Path) -> str | None:
    """What is wrong with an encoded segment (missing or empty), or None."""
    try:
        size = path.stat().st_size
    except OSError:
        return f"{path.name} is missing"
    return f"{path.name} is empty" if size == 0 else None


def _array_problem(path: Path) -> str | None:
    """What is wrong with a kept array (unreadable), or None."""
    try:
        np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return f"kept/{path.name} is unreadable"
    return None


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    return sorted(os.scandir(folder), key=lambda entry: entry.name) if folder.is_dir() else []


def work_done(output: str | os.PathLike[str]) -> tuple[int, int] | None:
    """``(frames done, chunks done)`` in the checkpoint of a render of ``output`` (a render in chunks counts
    ``chunks_done`` in its state; others 0); None when there is no checkpoint."""
    return _work_done(checkpoint_dir(output)) if frames_kept(output) is not None else None


def _work_done(folder: Path) -> tuple[int, int]:
    try:
        with np.load(folder / _STATE, allow_pickle=False) as data:
            return int(data["frames_done"]), int(data["chunks_done"]) if "chunks_done" in data else 0
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return 0, 0


def _read_frames_done(folder: Path) -> int:
    """Frames done according to ``folder``'s state file; 0 when it has none (or it cannot be read)."""
    try:
        with np.load(folder / _STATE, allow_pickle=False) as data:
            return int(data["frames_done"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return 0


def _prune(folder: Path, pattern: re.Pattern[str], keep: Callable[[int], bool] | None) -> None:
    """Delete entries of ``folder`` that are not ``pattern`` (temporary and part files) or whose number is not kept."""
    if not folder.is_dir():
        return
    for entry in os.scandir(folder):
        found = pattern.fullmatch(entry.name)
        if found is None or (keep is not None and not keep(int(found.group(1)))):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                Path(entry.path).unlink(missing_ok=True)


def _differences(recorded: Mapping[str, object], current: Mapping[str, object]) -> str:
    """``"dream.steps (was 2, now 3), input (the file changed)"``: the keys whose values differ."""
    parts = []
    for key in sorted(set(recorded) | set(current)):
        old, new = recorded.get(key), current.get(key)
        if old == new:
            continue
        if key == "checkpoint":
            parts.append(f"the checkpoint's layout (version {_show(old)}, written by another dreamvid; this one "
                         f"writes version {_show(new)})")
        elif isinstance(old, dict) and isinstance(new, dict) and old.get("path") == new.get("path"):
            same = all(old.get(k) == new.get(k) for k in ("size", "mtime_ns"))
            how = ": its content, not its size or time" if same and "content" in old else ""
            parts.append(f"{key} (the file {new.get('path')} changed since{how})")
        else:
            parts.append(f"{key} (was {_show(old)}, now {_show(new)})")
    return ", ".join(parts)


def _show(value: object) -> str:
    if isinstance(value, dict) and "path" in value:
        value = value["path"]
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
