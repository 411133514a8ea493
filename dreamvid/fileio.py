"""Atomic file writes: ``(target, content) → target``, where the target gets all of it or keeps what it had.

Convention:
    - A *part* is a new hidden file (or folder) beside its target, named ``.NAME.XXXXXXXX.part`` (eight
      random hex digits), or ``.NAME.XXXXXXXX.TAG.part`` when one target needs several (``video``, ``old``).
      It is created exclusively, with mode 0o666 (a folder 0o777) under the umask, so a finished file
      gets the same permissions as any other new file.
    - *Publishing* a part: fsync its data, rename it over the target (one ``os.replace``), fsync the folder,
      so after a crash or power cut the target is either the old file or the complete new one.
    - Every failure removes the part and raises :class:`~dreamvid.errors.OutputError` with one line
      (``cannot write out.png: No space left on device``); the target is left as it was. Other exceptions
      (Ctrl-C) also remove the part, and propagate unchanged.

:func:`atomic_write` covers content written by Python; :func:`reserve_part` and :func:`publish` cover
content written by another process (ffmpeg) into a part reserved beforehand.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from dreamvid.errors import OutputError

__all__ = ["atomic_write", "fsync_path", "publish", "remove_part", "remove_stale_parts", "reserve_part", "write_bytes"]

_ATTEMPTS = 100  # random names tried before giving up (only stale part files can collide)


def reserve_part(target: str | os.PathLike[str], *, tag: str = "", folder: bool = False) -> Path:
    """Create a new, empty part file (or folder) beside ``target``; return its absolute path.

    Args:
        target: the file (or folder) the part will replace.
        tag: a word that tells this part from another of the same target (``"video"``).
        folder: create a folder instead of a file.

    Raises:
        OutputError: the folder refuses a new file ("cannot write to DIR: permission denied").

    Example:
        >>> import tempfile
        >>> part = reserve_part(Path(tempfile.mkdtemp()) / "out.png", tag="video")
        >>> part.name.startswith(".out.png.") and part.name.endswith(".video.part"), part.stat().st_size
        (True, 0)
    """
    path = Path(target).absolute()
    middle = f".{tag}" if tag else ""
    for _ in range(_ATTEMPTS):
        part = path.parent / f".{path.name}.{secrets.token_hex(4)}{middle}.part"
        try:
            if folder:
                part.mkdir()
            else:
                os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return part
        except FileExistsError:
            continue
        except PermissionError:
            raise OutputError(f"cannot write to {path.parent}: permission denied") from None
        except OSError as exc:
            raise OutputError(f"cannot write to {path.parent}: {exc.strerror or exc}") from None
    raise OutputError(f"cannot create a temporary file in {path.parent}; remove stale .part files")


def publish(part: Path, target: str | os.PathLike[str], *, failure: str | None = None) -> Path:
    """Move a finished part over ``target`` durably (see the module docstring); return ``target``.

    A part folder replaces a folder target whole: the old folder is moved aside first, put back if the
    rename fails, and deleted after.

    Args:
        part: a part from :func:`reserve_part`, complete.
        target: where it belongs.
        failure: the start of the error line; default ``"cannot write TARGET"``.

    Raises:
        OutputError: the rename failed; the part is removed, the target kept.
    """
    path = Path(target)
    try:
        if part.is_dir() and not part.is_symlink():
            _replace_folder(part, path)
        else:
            fsync_path(part)
            os.replace(part, path)
    except OSError as exc:
        remove_part(part)
        raise OutputError(f"{failure or f'cannot write {path}'}: {exc.strerror or exc}") from None
    fsync_path(path.absolute().parent)
    return path


@contextmanager
def atomic_write(
    target: str | os.PathLike[str],
    *,
    failure: str | None = None,
    hint: str = "",
    keep_mode: bool = False,
) -> Iterator[IO[bytes]]:
    """Open a binary stream whose content replaces ``target`` when the ``with`` block ends without error.

    Args:
        target: the file to write.
        failure: the start of the error line; default ``"cannot write TARGET"``.
        hint: what to do, added to the error line after ``"; "``.
        keep_mode: give the new file the permission bits of the existing ``target`` (when there is one).

    Raises:
        OutputError: the part cannot be created, written or renamed (also for an ``OSError`` raised in
            the ``with`` block); the part is removed and the target kept.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "notes.txt"
        >>> with atomic_write(path) as stream:
        ...     _ = stream.write(b"complete")
        >>> path.read_bytes(), sorted(entry.name for entry in path.parent.iterdir())
        (b'complete', ['notes.txt'])
    """
    path = Path(target)
    message = failure or f"cannot write {path}"
    part = reserve_part(path)
    try:
        with open(part, "wb") as stream:
            if keep_mode and path.exists():
                os.chmod(stream.fileno(), stat.S_IMODE(path.stat().st_mode))
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(part, path)
    except BaseException as exc:
        remove_part(part)
        if isinstance(exc, OSError):
            raise OutputError(f"{message}: {exc.strerror or exc}" + (f"; {hint}" if hint else "")) from None
        raise
    fsync_path(path.absolute().parent)


def write_bytes(target: str | os.PathLike[str], payload: bytes, *, failure: str | None = None) -> None:
    """Write ``payload`` to ``target`` atomically (:func:`atomic_write`).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "a.csv"
        >>> write_bytes(path, b"frame,time\\n")
        >>> path.read_text()
        'frame,time\\n'
    """
    with atomic_write(target, failure=failure) as stream:
        stream.write(payload)


def remove_part(part: Path) -> None:
    """Delete a part file or folder if it is there (a link is removed, never followed)."""
    if part.is_dir() and not part.is_symlink():
        shutil.rmtree(part, ignore_errors=True)
    else:
        part.unlink(missing_ok=True)


def remove_stale_parts(target: str | os.PathLike[str]) -> list[Path]:
    """Delete the part files and folders of ``target`` that a killed process left beside it; return them.

    Only names of this module's scheme (``.NAME.XXXXXXXX[.TAG].part``) are touched. Call it only while
    nothing else can be writing ``target`` (a render holds its checkpoint's lock).

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / ".out.mp4.0a1b2c3d.video.part").write_bytes(b"x")
        >>> _ = (folder / ".out.mp4.notmine.part").write_bytes(b"x")
        >>> [p.name for p in remove_stale_parts(folder / "out.mp4")], sorted(p.name for p in folder.iterdir())
        (['.out.mp4.0a1b2c3d.video.part'], ['.out.mp4.notmine.part'])
    """
    path = Path(target)
    pattern = re.compile(re.escape(f".{path.name}.") + r"[0-9a-f]{8}(\.\w+)?\.part")
    try:
        stale = [entry for entry in path.parent.iterdir() if pattern.fullmatch(entry.name)]
    except OSError:
        return []
    for part in stale:
        remove_part(part)
    return stale


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Best effort: flush a file's data, or a folder's entries (to make a rename durable), to disk.

    Failures are ignored: not every platform or filesystem can fsync a folder.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _replace_folder(part: Path, target: Path) -> None:
    """Rename a finished folder into place, replacing an earlier folder of the same name."""
    if not target.exists():
        os.rename(part, target)
        return
    old = target.absolute().parent / f".{target.name}.{secrets.token_hex(4)}.old.part"
    os.rename(target, old)
    try:
        os.rename(part, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)
