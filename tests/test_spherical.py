"""Tests for dreamvid.spherical: 360° metadata read from and written into real MP4 files.

Every clip is encoded in a temporary folder by imageio-ffmpeg's bundled ffmpeg, which also serves as the
independent judge: it must list the metadata we write as side data of the video stream, and decode the
same frames and audio samples before and after. Files with only V1 or only V2 metadata are made from
written ones by renaming the other scheme's boxes to ``free`` (same sizes, so nothing else moves). The
chunk-offset arithmetic is also checked alone with exact values, for ``co64`` too (ffmpeg writes it only
past 4 GiB).
"""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from dreamvid import spherical
from dreamvid.errors import ConfigError, InputError, OutputError
from dreamvid.spherical import STEREO_MODES, Spherical, read_spherical, write_spherical

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
V1_UUID = bytes.fromhex("ffcc8263f8554a938814587a02521fdd")
VIDEO = ("-f", "lavfi", "-i", "testsrc=size=128x64:rate=10")
SINE = ("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5")
X264 = ("-frames:v", "5", "-c:v", "libx264", "-pix_fmt", "yuv420p")
FASTSTART = ("-movflags", "+faststart")

# What the bundled ffmpeg (9.0) prints under "Side data:" for the video stream.
SPHERICAL_LINE = "Spherical Mapping: equirectangular"
STEREO_LINES = {
    "mono": "Stereo 3D: 2D, view: packed, primary eye: none",
    "top-bottom": "Stereo 3D: top and bottom, view: packed, primary eye: none",
    "left-right": "Stereo 3D: side by side, view: packed, primary eye: none",
}


# ----------------------------------------------------------------------------------------------- helpers


def ffmpeg(*args: str | Path) -> bytes:
    """Run the bundled ffmpeg quietly; return stdout; fail the test with its message on error."""
    command = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    result = subprocess.run(command, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def side_data(path: Path) -> list[str]:
    """The entries ffmpeg lists under "Side data:" for the first video stream of ``ffmpeg -i path``."""
    stderr = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    lines = stderr.splitlines()
    start = next(index for index, line in enumerate(lines) if "Video:" in line)
    entries, inside = [], False
    for line in lines[start + 1:]:
        if not line.startswith("    ") or line.strip().startswith("Stream #"):
            break
        if line.strip() == "Side data:":
            inside = True
        elif inside and line.startswith("      "):
            entries.append(line.strip())
        else:
            inside = False
    return entries


def decoded(path: Path, stream: str) -> bytes:
    """All frames as raw rgb24 (``stream="v"``) or all audio as s16le samples (``"a"``)."""
    raw = ["-f", "rawvideo", "-pix_fmt", "rgb24"] if stream == "v" else ["-f", "s16le"]
    return ffmpeg("-i", path, "-map", f"0:{stream}:0", *raw, "-")


def copy(source: Path, folder: Path, name: str | None = None) -> Path:
    target = folder / (name or source.name)
    shutil.copyfile(source, target)
    return target


def rename_box(path: Path, marker: bytes, offset: int) -> None:
    """Overwrite the type of the box found at ``data.index(marker) + offset`` with ``free``."""
    data = bytearray(path.read_bytes())
    at = data.index(marker) + offset
    data[at:at + 4] = b"free"
    path.write_bytes(bytes(data))


def leftovers(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(".part"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny H.264 clips: moov after the media data (ffmpeg's default) or before it, with or without AAC."""
    folder = tmp_path_factory.mktemp("clips")
    recipes = {
        "plain.mp4": (*VIDEO, *X264),
        "faststart.mp4": (*VIDEO, *X264, *FASTSTART),
        "audio.mp4": (*VIDEO, *SINE, *X264, "-shortest"),
        "faststart-audio.mp4": (*VIDEO, *SINE, *X264, "-shortest", *FASTSTART),
        "plain.mov": (*VIDEO, *X264),
        "sine.mp4": SINE,
        "fragmented.mp4": (*VIDEO, *X264, "-movflags", "frag_keyframe+empty_moov"),
        "still.png": (*VIDEO, "-frames:v", "1"),
    }
    for name, args in recipes.items():
        ffmpeg(*args, folder / name)
    return {name: folder / name for name in recipes}


# ------------------------------------------------------------------------------------------------ writing


@pytest.mark.parametrize("stereo", STEREO_MODES)
def test_ffmpeg_shows_written_metadata(clips: dict[str, Path], tmp_path: Path, stereo: str) -> None:
    path = copy(clips["faststart.mp4"], tmp_path)
    assert side_data(path) == []
    write_spherical(path, stereo=stereo)
    assert side_data(path) == [STEREO_LINES[stereo], SPHERICAL_LINE]


@pytest.mark.parametrize("name", ["plain.mp4", "faststart.mp4", "audio.mp4", "faststart-audio.mp4"])
def test_frames_and_audio_are_untouched(clips: dict[str, Path], tmp_path: Path, name: str) -> None:
    path = copy(clips[name], tmp_path)
    before = path.read_bytes()
    write_spherical(path, stereo="top-bottom")
    after = path.read_bytes()
    assert decoded(path, "v") == decoded(clips[name], "v")
    if "audio" in name:
        assert decoded(path, "a") == decoded(clips[name], "a")
    grown = len(after) - len(before)
    assert grown > 0
    if "faststart" in name:  # moov stays first; the media data after it moved by what moov gained
        assert after.index(b"moov") < after.index(b"mdat")
        assert after.index(b"mdat") - before.index(b"mdat") == grown
    else:  # moov stays last; everything before it is byte for byte the same
        assert after.index(b"mdat") < after.index(b"moov")
        moov = before.index(b"moov") - 4  # the box starts with its size
        assert after[:moov] == before[:moov]


def test_boxes_follow_the_specifications(clips: dict[str, Path], tmp_path: Path) -> None:
    path = copy(clips["faststart.mp4"], tmp_path)
    write_spherical(path, stereo="top-bottom")
    data = path.read_bytes()
    assert struct.pack(">I4sI", 13, b"st3d", 0) + b"\x01" in data  # FullBox v0, stereo_mode 1 (top-bottom)
    svhd = struct.pack(">I4sI", 21, b"svhd", 0) + b"dreamvid\0"
    prhd = struct.pack(">I4sI3i", 24, b"prhd", 0, 0, 0, 0)
    equi = struct.pack(">I4sI4I", 28, b"equi", 0, 0, 0, 0, 0)
    assert struct.pack(">I4s", 89, b"sv3d") + svhd + struct.pack(">I4s", 60, b"proj") + prhd + equi in data
    assert data.index(b"st3d") < data.index(b"sv3d") < data.index(b"pasp")  # before the optional tail boxes
    xml_start = data.index(V1_UUID) + len(V1_UUID)
    (size,) = struct.unpack_from(">I", data, xml_start - 24)
    xml = data[xml_start:xml_start - 24 + size].decode()
    for field in ("<GSpherical:Spherical>true</GSpherical:Spherical>",
                  "<GSpherical:Stitched>true</GSpherical:Stitched>",
                  "<GSpherical:StitchingSoftware>dreamvid</GSpherical:StitchingSoftware>",
                  "<GSpherical:ProjectionType>equirectangular</GSpherical:ProjectionType>",
                  "<GSpherical:StereoMode>top-bottom</GSpherical:StereoMode>"):
        assert field in xml
    assert xml.startswith('<?xml version="1.0"?><rdf:SphericalVideo')
    assert xml.endswith("</rdf:SphericalVideo>")


def test_mono_v1_has_no_stereo_mode(clips: dict[str, Path], tmp_path: Path) -> None:
    path = copy(clips["faststart.mp4"], tmp_path)
    write_spherical(path)
    data = path.read_bytes()
    assert b"StereoMode" not in data
    assert struct.pack(">I4sI", 13, b"st3d", 0) + b"\x00" in data


def test_writing_again_replaces_the_metadata(clips: dict[str, Path], tmp_path: Path) -> None:
    twice = copy(clips["faststart-audio.mp4"], tmp_path, "twice.mp4")
    once = copy(clips["faststart-audio.mp4"], tmp_path, "once.mp4")
    write_spherical(twice, stereo="mono")
    write_spherical(twice, stereo="left-right")
    write_spherical(once, stereo="left-right")
    data = twice.read_bytes()
    assert (data.count(b"st3d"), data.count(b"sv3d"), data.count(V1_UUID)) == (1, 1, 1)
    assert data == once.read_bytes()
    assert read_spherical(twice) == Spherical("equirect", "left-right", "v1+v2")


def test_large_and_open_ended_boxes(clips: dict[str, Path], tmp_path: Path) -> None:
    """A 64-bit ``largesize`` mdat (taking the place of ffmpeg's 8-byte ``free`` box) and a last mdat of
    size 0 ("to the end of the file") are both kept working."""
    large = copy(clips["plain.mp4"], tmp_path, "large.mp4")
    data = large.read_bytes()
    at = data.index(b"free") - 4
    assert data[at:at + 8] == struct.pack(">I4s", 8, b"free") and data[at + 12:at + 16] == b"mdat"
    (size,) = struct.unpack_from(">I", data, at + 8)
    large.write_bytes(data[:at] + struct.pack(">I4sQ", 1, b"mdat", size + 8) + data[at + 16:])
    open_ended = copy(clips["faststart.mp4"], tmp_path, "open.mp4")
    data = open_ended.read_bytes()
    at = data.index(b"mdat") - 4
    open_ended.write_bytes(data[:at] + bytes(4) + data[at + 4:])
    for path in (large, open_ended):
        write_spherical(path, stereo="left-right")
        assert read_spherical(path) == Spherical("equirect", "left-right", "v1+v2")
        assert decoded(path, "v") == decoded(clips["plain.mp4"], "v")


@pytest.mark.parametrize(("kind", "code"), [(b"stco", "I"), (b"co64", "Q")])
def test_only_chunk_offsets_past_the_old_moov_move(kind: bytes, code: str) -> None:
    table = spherical._Node(kind, struct.pack(f">4xI3{code}", 3, 100, 999, 1000) + b"rest")
    moved = spherical._shifted_table(table, 24, after=1000)
    assert moved == spherical._Node(kind, struct.pack(f">4xI3{code}", 3, 100, 999, 1024) + b"rest")


def test_chunk_offsets_that_would_overflow_are_refused() -> None:
    table = spherical._Node(b"stco", struct.pack(">4xII", 1, 0xFFFFFFF0))
    with pytest.raises(spherical._BoxError, match=r"its chunk offsets would overflow 'stco'"):
        spherical._shifted_table(table, 16, after=0)
    short = spherical._Node(b"co64", struct.pack(">4xIQ", 2, 8))
    with pytest.raises(spherical._BoxError, match=r"'co64' is shorter than its entries"):
        spherical._shifted_table(short, 16, after=0)


def test_file_permissions_are_kept(clips: dict[str, Path], tmp_path: Path) -> None:
    path = copy(clips["plain.mp4"], tmp_path)
    path.chmod(0o640)
    write_spherical(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("name", "cut", "message"), [
    ("plain.mp4", -100, r"broken box structure: 'moov' at byte \d+ has size \d+, but \d+ bytes are left"),
    ("faststart.mp4", -100, r"broken box structure: 'mdat' at byte \d+ has size \d+, but \d+ bytes are left"),
    ("notes.mp4", None, r"it is not an MP4 file \(broken box structure: 'o wo' at byte 0"),
    ("sine.mp4", None, r"it has no video track"),
    ("fragmented.mp4", None, r"fragmented MP4 \('moof' boxes\) is not supported"),
])
def test_refuses_files_it_cannot_patch(clips: dict[str, Path], tmp_path: Path, name: str, cut: int | None,
                                       message: str) -> None:
    if name == "notes.mp4":
        path = tmp_path / name
        path.write_text("hello world, this is not a video\n")
    else:
        path = copy(clips[name], tmp_path)
        path.write_bytes(path.read_bytes()[:cut])
    before = path.read_bytes()
    expected = rf"^cannot add 360° metadata to .*{name}: {message}.*; give an MP4 file with a video track$"
    with pytest.raises(OutputError, match=expected):
        write_spherical(path)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


def test_refuses_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"cannot add 360° metadata to .*missing\.mp4: No such file"):
        write_spherical(tmp_path / "missing.mp4")


@pytest.mark.parametrize(("options", "message"), [
    ({"projection": "cubemap"}, r"expected projection 'equirect' \(the only one written\), got 'cubemap'"),
    ({"stereo": "side-by-side"}, r"expected stereo 'mono', 'top-bottom', 'left-right', got 'side-by-side'"),
])
def test_refuses_unknown_options(clips: dict[str, Path], tmp_path: Path, options: dict[str, str],
                                 message: str) -> None:
    path = copy(clips["plain.mp4"], tmp_path)
    with pytest.raises(ConfigError, match=message):
        write_spherical(path, **options)
    assert path.read_bytes() == clips["plain.mp4"].read_bytes()


# ------------------------------------------------------------------------------------------------ reading


@pytest.mark.parametrize("name", ["plain.mp4", "faststart-audio.mp4", "plain.mov"])
@pytest.mark.parametrize("stereo", STEREO_MODES)
def test_reads_what_was_written(clips: dict[str, Path], tmp_path: Path, name: str, stereo: str) -> None:
    path = copy(clips[name], tmp_path)
    write_spherical(path, stereo=stereo)
    assert read_spherical(path) == Spherical("equirect", stereo, "v1+v2")


def test_reads_v1_only_and_v2_only(clips: dict[str, Path], tmp_path: Path) -> None:
    v1 = copy(clips["faststart.mp4"], tmp_path, "v1.mp4")
    write_spherical(v1, stereo="top-bottom")
    v2 = copy(v1, tmp_path, "v2.mp4")
    rename_box(v1, b"st3d", 0)
    rename_box(v1, b"sv3d", 0)
    rename_box(v2, V1_UUID, -4)
    assert read_spherical(v1) == Spherical("equirect", "top-bottom", "v1")
    assert read_spherical(v2) == Spherical("equirect", "top-bottom", "v2")
    for path in (v1, v2):  # ffmpeg reads each scheme on its own too
        assert side_data(path) == [STEREO_LINES["top-bottom"], SPHERICAL_LINE]


def test_v2_wins_when_the_schemes_disagree(clips: dict[str, Path], tmp_path: Path) -> None:
    path = copy(clips["faststart.mp4"], tmp_path)
    write_spherical(path, stereo="left-right")
    data = path.read_bytes()
    assert b">left-right</GSpherical:StereoMode>" in data
    path.write_bytes(data.replace(b">left-right</GSpherical:", b">top-bottom</GSpherical:"))
    assert read_spherical(path) == Spherical("equirect", "left-right", "v1+v2")


def test_reads_v2_written_by_ffmpeg(clips: dict[str, Path], tmp_path: Path) -> None:
    """ffmpeg copies V2 metadata (never V1) from its input, and only with ``-strict unofficial``."""
    ours = copy(clips["faststart.mp4"], tmp_path)
    write_spherical(ours, stereo="left-right")
    theirs, dropped = tmp_path / "theirs.mp4", tmp_path / "dropped.mp4"
    ffmpeg("-i", ours, "-c", "copy", "-strict", "unofficial", theirs)
    ffmpeg("-i", ours, "-c", "copy", dropped)
    if b"sv3d" not in theirs.read_bytes():
        pytest.skip("this ffmpeg does not write sv3d boxes")
    assert V1_UUID not in theirs.read_bytes()
    assert read_spherical(theirs) == Spherical("equirect", "left-right", "v2")
    assert read_spherical(dropped) is None


def test_flat_and_foreign_files_read_as_none(clips: dict[str, Path], tmp_path: Path) -> None:
    text, empty = tmp_path / "notes.mp4", tmp_path / "empty.mp4"
    text.write_text("hello world, this is not a video\n")
    empty.write_bytes(b"")
    paths = [clips[name] for name in ("plain.mp4", "plain.mov", "sine.mp4", "fragmented.mp4", "still.png")]
    for path in (*paths, text, empty):
        assert read_spherical(path) is None, path


def test_webm_reads_as_none(tmp_path: Path) -> None:
    encoders = subprocess.run([FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    if " libvpx-vp9 " not in encoders:
        pytest.skip("the bundled ffmpeg has no libvpx-vp9")
    path = tmp_path / "clip.webm"
    ffmpeg(*VIDEO, "-frames:v", "3", "-c:v", "libvpx-vp9", path)
    assert read_spherical(path) is None


def test_truncated_files(clips: dict[str, Path], tmp_path: Path) -> None:
    """moov before the cut: the metadata is still read; the cut inside moov: none is."""
    path = copy(clips["faststart.mp4"], tmp_path)
    write_spherical(path, stereo="top-bottom")
    data = path.read_bytes()
    path.write_bytes(data[:data.index(b"mdat") + 100])
    assert read_spherical(path) == Spherical("equirect", "top-bottom", "v1+v2")
    path.write_bytes(data[:data.index(b"sv3d")])
    assert read_spherical(path) is None


def test_reading_a_missing_file_raises(tmp_path: Path) -> None:
    expected = r"^cannot read .*missing\.mp4: No such file or directory; check the path$"
    with pytest.raises(InputError, match=expected):
        read_spherical(tmp_path / "missing.mp4")
