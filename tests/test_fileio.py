"""Tests for dreamvid.fileio: atomic writes on a real filesystem.

Failures are real ones: a part file that is a link to ``/dev/full`` (every write fails with ENOSPC), a
folder that does not exist, a target that is a non-empty folder (the rename fails), an exception or a
Ctrl-C inside the ``with`` block. After each, the target must hold what it held before and no part
file may be left beside it.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest

from dreamvid import fileio
from dreamvid.errors import OutputError
from dreamvid.fileio import atomic_write, fsync_path, publish, remove_part, reserve_part, write_bytes

PART_NAME = re.compile(r"\.(?P<name>.+)\.[0-9a-f]{8}(?:\.(?P<tag>\w+))?\.part")


def listing(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture
def full_device(monkeypatch: pytest.MonkeyPatch):
    """Part files become links to /dev/full, so every write to them fails with ENOSPC."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    real_reserve = fileio.reserve_part

    def reserve_on_full_device(target, **kwargs):
        part = real_reserve(target, **kwargs)
        part.unlink()
        part.symlink_to("/dev/full")
        return part

    monkeypatch.setattr(fileio, "reserve_part", reserve_on_full_device)


class TestReservePart:
    def test_one_naming_scheme_beside_the_target(self, tmp_path: Path) -> None:
        plain = reserve_part(tmp_path / "out.mp4")
        tagged = reserve_part(tmp_path / "out.mp4", tag="video")
        folder = reserve_part(tmp_path / "frames", folder=True)
        assert plain.parent == tagged.parent == folder.parent == tmp_path
        assert PART_NAME.fullmatch(plain.name).group("name", "tag") == ("out.mp4", None)
        assert PART_NAME.fullmatch(tagged.name).group("name", "tag") == ("out.mp4", "video")
        assert PART_NAME.fullmatch(folder.name).group("name", "tag") == ("frames", None)
        assert plain.is_file() and plain.stat().st_size == 0 and folder.is_dir()

    def test_names_never_collide(self, tmp_path: Path) -> None:
        parts = {reserve_part(tmp_path / "out.png") for _ in range(50)}
        assert len(parts) == 50 and len(listing(tmp_path)) == 50

    def test_missing_folder(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match=r"^cannot write to .*missing: No such file or directory$"):
            reserve_part(tmp_path / "missing" / "out.png")

    def test_refused_folder(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """As root, permissions do not bind: ``os.open`` is made to refuse part files as a read-only folder does."""
        real_open = os.open

        def refuse(path, *args, **kwargs):
            if str(path).endswith(".part"):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse)
        with pytest.raises(OutputError, match=r"^cannot write to .*: permission denied$"):
            reserve_part(tmp_path / "out.png")
        assert listing(tmp_path) == []


class TestAtomicWrite:
    def test_new_file(self, tmp_path: Path) -> None:
        write_bytes(tmp_path / "a.csv", b"frame,time\n0,0.0\n")
        assert (tmp_path / "a.csv").read_bytes() == b"frame,time\n0,0.0\n"
        assert listing(tmp_path) == ["a.csv"]

    def test_replaces_the_old_file_whole(self, tmp_path: Path) -> None:
        target = tmp_path / "a.bin"
        target.write_bytes(b"x" * 10_000)
        write_bytes(target, b"short")
        assert target.read_bytes() == b"short" and listing(tmp_path) == ["a.bin"]

    def test_stream_in_a_with_block(self, tmp_path: Path) -> None:
        target = tmp_path / "state.npz"
        with atomic_write(target) as stream:
            stream.write(b"one ")
            assert not target.exists()  # nothing at the target until the block ends
            stream.write(b"two")
        assert target.read_bytes() == b"one two"

    def test_exception_in_the_block_keeps_the_old_file(self, tmp_path: Path) -> None:
        target = tmp_path / "a.txt"
        target.write_bytes(b"old")
        with pytest.raises(ValueError, match="half-way"):
            with atomic_write(target) as stream:
                stream.write(b"new, half")
                raise ValueError("half-way")
        assert target.read_bytes() == b"old" and listing(tmp_path) == ["a.txt"]

    def test_ctrl_c_in_the_block_keeps_the_old_file(self, tmp_path: Path) -> None:
        target = tmp_path / "a.txt"
        target.write_bytes(b"old")
        with pytest.raises(KeyboardInterrupt):
            with atomic_write(target) as stream:
                stream.write(b"new")
                raise KeyboardInterrupt
        assert target.read_bytes() == b"old" and listing(tmp_path) == ["a.txt"]

    def test_disk_full_keeps_the_old_file(self, tmp_path: Path, full_device: None) -> None:
        target = tmp_path / "a.png"
        target.write_bytes(b"an earlier render")
        with pytest.raises(OutputError) as error:
            write_bytes(target, b"\0" * 100_000)
        assert re.fullmatch(r"cannot write .*a\.png: No space left on device", str(error.value))
        assert target.read_bytes() == b"an earlier render" and listing(tmp_path) == ["a.png"]

    def test_failure_line_and_hint(self, tmp_path: Path, full_device: None) -> None:
        with pytest.raises(OutputError) as error:
            with atomic_write(tmp_path / "state.npz", failure="cannot write the checkpoint",
                              hint="make room, then continue with --resume") as stream:
                stream.write(b"\0" * 100_000)
        assert str(error.value) == ("cannot write the checkpoint: No space left on device; make room, then "
                                    "continue with --resume")
        assert listing(tmp_path) == []

    def test_rename_failure_keeps_the_target(self, tmp_path: Path) -> None:
        target = tmp_path / "out.png"
        target.mkdir()
        (target / "keep.txt").write_text("mine")
        with pytest.raises(OutputError, match=r"^cannot write .*out\.png: Is a directory$"):
            write_bytes(target, b"image")
        assert listing(tmp_path) == ["out.png"] and (target / "keep.txt").read_text() == "mine"

    def test_missing_folder(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="No such file or directory"):
            write_bytes(tmp_path / "missing" / "a.txt", b"x")
        assert listing(tmp_path) == []

    @pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
    def test_permissions_of_any_new_file(self, tmp_path: Path, umask_027: None) -> None:
        (tmp_path / "plain.txt").write_bytes(b"x")  # what open() makes under the same umask
        write_bytes(tmp_path / "atomic.txt", b"x")
        assert stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode) == 0o640
        assert stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o640

    @pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
    def test_keep_mode(self, tmp_path: Path, umask_027: None) -> None:
        target = tmp_path / "pano.mp4"
        target.write_bytes(b"old")
        target.chmod(0o604)
        with atomic_write(target, keep_mode=True) as stream:
            stream.write(b"new")
        assert stat.S_IMODE(target.stat().st_mode) == 0o604
        write_bytes(target, b"newer")  # without keep_mode: a new file's permissions
        assert stat.S_IMODE(target.stat().st_mode) == 0o640


class TestPublish:
    def test_file(self, tmp_path: Path) -> None:
        target = tmp_path / "out.mp4"
        target.write_bytes(b"old")
        part = reserve_part(target)
        part.write_bytes(b"encoded by another process")
        assert publish(part, target) == target
        assert target.read_bytes() == b"encoded by another process" and listing(tmp_path) == ["out.mp4"]

    def test_folder_replaces_an_earlier_folder_whole(self, tmp_path: Path) -> None:
        target = tmp_path / "frames"
        target.mkdir()
        for name in ("frame_000001.png", "frame_000002.png", "frame_000003.png"):
            (target / name).write_bytes(b"old")
        part = reserve_part(target, folder=True)
        (part / "frame_000001.png").write_bytes(b"new")
        publish(part, target)
        assert listing(tmp_path) == ["frames"] and listing(target) == ["frame_000001.png"]
        assert (target / "frame_000001.png").read_bytes() == b"new"

    def test_folder_to_a_new_name(self, tmp_path: Path) -> None:
        part = reserve_part(tmp_path / "frames", folder=True)
        (part / "frame_000001.png").write_bytes(b"new")
        publish(part, tmp_path / "frames")
        assert listing(tmp_path) == ["frames"] and listing(tmp_path / "frames") == ["frame_000001.png"]

    def test_failure_removes_the_part(self, tmp_path: Path) -> None:
        target = tmp_path / "out.mp4"
        target.mkdir()
        (target / "keep.txt").write_text("mine")
        part = reserve_part(target)
        with pytest.raises(OutputError, match=r"^cannot join .*: Is a directory$"):
            publish(part, target, failure=f"cannot join {target}")
        assert listing(tmp_path) == ["out.mp4"] and listing(target) == ["keep.txt"]


class TestHelpers:
    def test_remove_part_never_follows_a_link(self, tmp_path: Path) -> None:
        kept = tmp_path / "kept"
        kept.mkdir()
        (kept / "file").write_text("mine")
        link = tmp_path / ".x.0123abcd.part"
        link.symlink_to(kept)
        remove_part(link)
        remove_part(link)  # twice is fine
        assert listing(tmp_path) == ["kept"] and (kept / "file").read_text() == "mine"

    def test_fsync_path_ignores_what_it_cannot_open(self, tmp_path: Path) -> None:
        fsync_path(tmp_path / "missing")  # no error
        fsync_path(tmp_path)
        assert listing(tmp_path) == []
