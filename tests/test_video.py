"""Tests for dreamvid.video: probing, frame-accurate reading, encoding with audio, atomic outputs.

Every clip is made in ``tmp_path`` with imageio-ffmpeg's bundled ffmpeg, driven directly (not through the
module under test) so that reader and writer are each checked against an independent encoder/decoder.
"Index clips" are lossless and frame ``t`` is a solid grey of level ``10 * t``, so frame order, count and
lag can be read back exactly.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest

from dreamvid.video import write
from dreamvid.errors import ConfigError, InputError, OutputError
from dreamvid.video import VideoInfo, VideoWriter, output_format, output_size, probe, read_frames

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
NTSC_FILM = Fraction(24000, 1001)


# ----------------------------------------------------------------------------------------------- helpers


def ffmpeg(*args: str | Path, stdin: bytes | None = None) -> bytes:
    """Run the bundled ffmpeg quietly; return stdout; fail the test with its message on error."""
    command = [FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]
    result = subprocess.run(command, input=stdin, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def header(path: Path) -> str:
    """What ``ffmpeg -i`` prints about a file."""
    return subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr


def container_duration(path: Path) -> float:
    line = next(line for line in header(path).splitlines() if "Duration:" in line)
    h, m, s = line.split("Duration:")[1].split(",")[0].strip().split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def grey_frames(count: int, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    width, height = size
    return [np.full((height, width, 3), 10 * t, np.uint8) for t in range(count)]


def make_clip(path: Path, frames: list[np.ndarray], fps: Fraction, *codec: str) -> Path:
    """Encode RGB frames with ffmpeg itself (lossless RGB H.264 unless told otherwise)."""
    height, width = frames[0].shape[:2]
    codec = codec or ("-c:v", "libx264rgb", "-qp", "0", "-pix_fmt", "rgb24")
    ffmpeg("-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate",
           f"{fps.numerator}/{fps.denominator}", "-i", "-", *codec, path,
           stdin=b"".join(frame.tobytes() for frame in frames))
    return path


def index_clip(path: Path, count: int, fps: Fraction = Fraction(25)) -> Path:
    return make_clip(path, grey_frames(count), fps)


def lavfi_clip(path: Path, *, fps: str = "25", seconds: float = 1.0, size: str = "64x48",
            audio: bool = False, extra: tuple[str, ...] = ()) -> Path:
    args: list[str] = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    ffmpeg(*args, *extra, path)
    return path


def levels(frames: list[np.ndarray]) -> list[int]:
    return [int(round(float(frame.mean()))) for frame in frames]


def decode_audio(path: Path) -> np.ndarray:
    """The file's audio as mono float samples at 8 kHz."""
    raw = ffmpeg("-i", path, "-map", "0:a:0", "-ac", "1", "-ar", "8000", "-f", "s16le", "-")
    return np.frombuffer(raw, np.int16).astype(np.float32) / 32768


def listing(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def write_all(path: Path, frames: list[np.ndarray], fps: Fraction = Fraction(25), **options) -> Path:
    height, width = frames[0].shape[:2]
    with VideoWriter(path, fps=fps, size=(width, height), **options) as writer:
        for frame in frames:
            writer.write(frame)
    return path


def assert_one_line(error: pytest.ExceptionInfo[BaseException]) -> None:
    assert "\n" not in str(error.value)


# ------------------------------------------------------------------------------------------------ probe


class TestProbe:
    def test_ntsc_film_mp4_with_audio(self, tmp_path: Path) -> None:
        clip = lavfi_clip(tmp_path / "clip.mp4", fps="24000/1001", seconds=1.001, audio=True,
                       extra=("-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"))
        info = probe(clip)
        assert info == VideoInfo(path=clip, width=64, height=48, fps=NTSC_FILM, duration=info.duration,
                                 frames=24, has_audio=True, rotation=0, codec="h264", is_image=False)
        assert info.duration == pytest.approx(24 * 1001 / 24000)

    @pytest.mark.parametrize(("name", "rate", "expected", "codec"), [
        ("a.mkv", "24000/1001", NTSC_FILM, "h264"),  # 1 ms time base: the rate comes from "23.98 fps"
        ("b.mp4", "30000/1001", Fraction(30000, 1001), "h264"),
        ("c.webm", "25", Fraction(25), "vp9"),
        ("d.avi", "60000/1001", Fraction(60000, 1001), "mpeg4"),
        ("e.gif", "10", Fraction(10), "gif"),
        ("f.mov", "12.5", Fraction(25, 2), "h264"),
    ])
    def test_exact_frame_rate_and_count_per_container(self, tmp_path: Path, name: str, rate: str,
                                                      expected: Fraction, codec: str) -> None:
        codecs = {"webm": ("-c:v", "libvpx-vp9", "-deadline", "realtime"), "avi": ("-c:v", "mpeg4"),
                  "gif": ()}
        extension = name.split(".")[1]
        clip = lavfi_clip(tmp_path / name, fps=rate, seconds=float(12 / expected),
                       extra=codecs.get(extension, ("-c:v", "libx264", "-pix_fmt", "yuv420p")))
        info = probe(clip)
        assert (info.fps, info.frames, info.codec, info.has_audio) == (expected, 12, codec, False)
        assert info.duration == pytest.approx(float(12 / expected))

    @pytest.mark.parametrize("clockwise", [90, 180, 270])
    def test_rotation_swaps_the_size_and_frames_arrive_upright(self, tmp_path: Path, clockwise: int) -> None:
        picture = np.zeros((48, 64, 3), np.uint8)
        picture[:16, :16] = 255  # a white block in the top-left corner
        stored = make_clip(tmp_path / "stored.mp4", [picture] * 3, Fraction(25))
        rotated = tmp_path / "rotated.mp4"
        ffmpeg("-display_rotation", str(-clockwise), "-i", stored, "-c", "copy", rotated)
        info = probe(rotated)
        assert info.rotation == clockwise
        assert (info.width, info.height) == ((48, 64) if clockwise in (90, 270) else (64, 48))
        frame = next(read_frames(rotated))
        expected = np.rot90(picture, k=-clockwise // 90)  # k < 0 turns clockwise
        assert frame.shape == expected.shape
        assert np.abs(frame.astype(int) - expected).mean() < 3

    def test_still_images_are_one_frame_videos(self, tmp_path: Path) -> None:
        picture = np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8)
        path = tmp_path / "still.png"
        cv2.imwrite(str(path), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
        info = probe(path)
        assert (info.is_image, info.frames, info.width, info.height) == (True, 1, 7, 5)
        frames = list(read_frames(path))
        assert len(frames) == 1 and np.array_equal(frames[0], picture)

    def test_a_video_is_not_an_image(self, tmp_path: Path) -> None:
        assert probe(index_clip(tmp_path / "one.mp4", 1)).is_image is False
        sequence = tmp_path / "seq"
        sequence.mkdir()
        for number in (1, 2):
            cv2.imwrite(str(sequence / f"f_{number}.png"), np.zeros((4, 4, 3), np.uint8))
        assert probe(sequence).is_image is False

    def test_variable_frame_rate_becomes_constant_at_the_nominal_rate(self, tmp_path: Path) -> None:
        clip = index_clip(tmp_path / "cfr.mkv", 20)
        vfr = tmp_path / "vfr.mp4"  # frames 5-7 dropped: timestamps jump, the average rate is 17/0.8 s
        ffmpeg("-i", clip, "-vf", r"select=not(between(n\,5\,7))", "-fps_mode", "vfr", "-c:v", "libx264rgb",
               "-qp", "0", vfr)
        info = probe(vfr)
        assert (info.fps, info.frames) == (Fraction(25), 20)
        # Frame t is the picture at t / 25 s: the gap is filled by repeating frame 4.
        expected = [0, 10, 20, 30, 40, 40, 40, 40] + [10 * t for t in range(8, 20)]
        assert levels(list(read_frames(vfr))) == expected


class TestProbeErrors:
    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="not found") as error:
            probe(tmp_path / "missing.mp4")
        assert_one_line(error)

    def test_zero_byte_file(self, tmp_path: Path) -> None:
        (tmp_path / "empty.mp4").touch()
        with pytest.raises(InputError, match=r"empty \(0 bytes\)"):
            probe(tmp_path / "empty.mp4")

    def test_text_file_named_mp4(self, tmp_path: Path) -> None:
        (tmp_path / "notes.mp4").write_text("not a video\n")
        with pytest.raises(InputError, match=r"cannot read .*notes\.mp4 as a video: Invalid data") as error:
            probe(tmp_path / "notes.mp4")
        assert_one_line(error)

    def test_audio_only_file(self, tmp_path: Path) -> None:
        ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", tmp_path / "tone.m4a")
        with pytest.raises(InputError, match=r"no video stream \(audio only\)"):
            probe(tmp_path / "tone.m4a")

    def test_pattern_without_files(self, tmp_path: Path) -> None:
        with pytest.raises(InputError, match="no files match"):
            probe(tmp_path / "f_%04d.png")

    def test_sequence_with_a_gap(self, tmp_path: Path) -> None:
        for number in (1, 2, 4):
            cv2.imwrite(str(tmp_path / f"f_{number:04d}.png"), np.zeros((4, 4, 3), np.uint8))
        with pytest.raises(InputError, match="image 3 of the sequence .* is missing"):
            probe(tmp_path / "f_%04d.png")

    def test_folder_without_images(self, tmp_path: Path) -> None:
        (tmp_path / "readme.txt").write_text("hi")
        with pytest.raises(InputError, match="no numbered images"):
            probe(tmp_path)


# ---------------------------------------------------------------------------------------------- reading


class TestReadFrames:
    @pytest.mark.parametrize("count", [1, 2, 17])
    def test_every_frame_once_in_order(self, tmp_path: Path, count: int) -> None:
        clip = index_clip(tmp_path / "index.mp4", count, NTSC_FILM)
        frames = list(read_frames(clip))
        assert levels(frames) == [10 * t for t in range(count)]
        assert all(frame.shape == (48, 64, 3) and frame.dtype == np.uint8 for frame in frames)
        assert frames[0].flags.writeable and frames[0].flags.c_contiguous

    def test_colour_order_is_rgb(self, tmp_path: Path) -> None:
        red = np.zeros((8, 8, 3), np.uint8)
        red[..., 0] = 255
        clip = make_clip(tmp_path / "red.mp4", [red], Fraction(25))
        assert next(read_frames(clip))[4, 4].tolist() == [255, 0, 0]
        assert probe(clip).codec == "h264"

    def test_image_sequence_reads_in_numeric_order(self, tmp_path: Path) -> None:
        for t in range(13):
            cv2.imwrite(str(tmp_path / f"f_{t + 1:04d}.png"), np.full((6, 8, 3), 10 * t, np.uint8))
        assert levels(list(read_frames(tmp_path / "f_%04d.png"))) == [10 * t for t in range(13)]

    def test_folder_of_unpadded_numbers_reads_in_numeric_order(self, tmp_path: Path) -> None:
        for t in range(13):  # f_1.png ... f_13.png: a lexicographic sort would put f_10 after f_1
            cv2.imwrite(str(tmp_path / f"f_{t + 1}.png"), np.full((6, 8, 3), 10 * t, np.uint8))
        info = probe(tmp_path)
        assert (info.frames, info.fps) == (13, Fraction(25))
        assert levels(list(read_frames(tmp_path, info=info))) == [10 * t for t in range(13)]

    def test_percent_signs_in_folder_names(self, tmp_path: Path) -> None:
        folder = tmp_path / "100%d done"
        folder.mkdir()
        out = write_all(folder / "frames", grey_frames(3))
        assert levels(list(read_frames(out))) == [0, 10, 20]
        assert levels(list(read_frames(folder / "frames" / "frame_%06d.png"))) == [0, 10, 20]

    def test_start_duration_and_frames(self, tmp_path: Path) -> None:
        clip = index_clip(tmp_path / "index.mkv", 20)
        assert levels(list(read_frames(clip, start=0.4))) == [10 * t for t in range(10, 20)]
        assert levels(list(read_frames(clip, duration=0.2))) == [0, 10, 20, 30, 40]
        assert levels(list(read_frames(clip, frames=3))) == [0, 10, 20]
        assert levels(list(read_frames(clip, start=0.4, duration=1.0, frames=2))) == [100, 110]
        assert levels(list(read_frames(clip, start=0.68, duration=10.0))) == [170, 180, 190]
        assert levels(list(read_frames(clip, start=0.7))) == [180, 190]  # the first frame at or after it

    def test_start_at_an_exact_frame_time_of_an_ntsc_clip(self, tmp_path: Path) -> None:
        clip = index_clip(tmp_path / "index.mp4", 20, NTSC_FILM)
        start = float(5 / NTSC_FILM)  # 208541.67 us, the time of frame 5: not a whole microsecond
        assert levels(list(read_frames(clip, start=start, duration=float(3 / NTSC_FILM)))) == [50, 60, 70]

    def test_width_downscales_to_an_even_size(self, tmp_path: Path) -> None:
        clip = lavfi_clip(tmp_path / "clip.mp4", size="100x62", seconds=0.08)
        frames = list(read_frames(clip, width=51))
        assert [frame.shape for frame in frames] == [(32, 50, 3), (32, 50, 3)]

    def test_stopping_early_ends_ffmpeg(self, tmp_path: Path) -> None:
        iterator = read_frames(index_clip(tmp_path / "index.mp4", 17))
        assert levels([next(iterator)]) == [0]
        iterator.close()  # runs the generator's cleanup; must not hang or raise
        with pytest.raises(StopIteration):
            next(iterator)

    def test_start_past_the_end_says_how_long_the_clip_is(self, tmp_path: Path) -> None:
        clip = index_clip(tmp_path / "index.mp4", 10)
        with pytest.raises(InputError, match=r"only 0\.400 s long") as error:
            read_frames(clip, start=5.0)  # raised at the call, before any decoding
        assert_one_line(error)

    @pytest.mark.parametrize("options", [{"start": -1.0}, {"duration": 0.0}, {"frames": 0}, {"width": 1},
                                         {"frames": 2.5}, {"start": float("nan")}])
    def test_bad_options(self, tmp_path: Path, options: dict) -> None:
        with pytest.raises(ConfigError, match="expected"):
            read_frames(tmp_path / "never-read.mp4", **options)


# ----------------------------------------------------------------------------------------------- sizes


class TestOutputSize:
    @pytest.mark.parametrize(("size", "target", "expected"), [
        ((1920, 1080), 853, (852, 480)),   # odd target rounds down, height from the aspect, even
        ((1920, 1080), 640, (640, 360)),
        ((64, 48), 33, (32, 24)),
        ((100, 62), 51, (50, 32)),         # 31 rounds to the even 32
        ((63, 47), None, (63, 47)),        # no --width: the exact size
        ((63, 47), 63, (63, 47)),          # never upscale, never change an explicit same width
        ((640, 360), 4000, (640, 360)),
        ((1000, 2), 10, (10, 2)),          # at least 2 pixels high
    ])
    def test_sizes(self, size: tuple[int, int], target: int | None, expected: tuple[int, int]) -> None:
        assert output_size(*size, target_width=target) == expected

    @pytest.mark.parametrize("target", [0, 1, -4])
    def test_too_small(self, target: int) -> None:
        with pytest.raises(ConfigError, match="width >= 2"):
            output_size(640, 360, target_width=target)


class TestOutputFormat:
    @pytest.mark.parametrize(("name", "expected"), [
        ("out.mp4", "mp4"), ("OUT.MP4", "mp4"), ("out.webm", "webm"), ("out.gif", "gif"),
        ("frames/", "png"), ("frames", "png"),
    ])
    def test_names(self, name: str, expected: str) -> None:
        assert output_format(name) == expected

    def test_existing_folder_is_png_frames(self, tmp_path: Path) -> None:
        (tmp_path / "frames.v1").mkdir()
        assert output_format(tmp_path / "frames.v1") == "png"

    @pytest.mark.parametrize("name", ["out.avi", "out.png", "out.mp3"])
    def test_unknown_extension_lists_the_supported_ones(self, tmp_path: Path, name: str) -> None:
        with pytest.raises(OutputError, match=r"\.mp4, \.webm, \.gif, or a folder") as error:
            output_format(tmp_path / name)
        assert_one_line(error)


# ---------------------------------------------------------------------------------------------- writing


class TestWriterRoundTrip:
    @pytest.mark.parametrize("count", [1, 2, 17])
    def test_png_frames_keep_every_frame_exactly(self, tmp_path: Path, count: int) -> None:
        clip = index_clip(tmp_path / "index.mp4", count, NTSC_FILM)
        info = probe(clip)
        out = write_all(tmp_path / "frames", list(read_frames(clip, info=info)), info.fps)
        assert listing(out) == [f"frame_{t + 1:06d}.png" for t in range(count)]
        assert levels(list(read_frames(out))) == [10 * t for t in range(count)]

    @pytest.mark.parametrize("count", [1, 2, 17])
    def test_mp4_keeps_count_order_size_and_exact_rate(self, tmp_path: Path, count: int) -> None:
        clip = index_clip(tmp_path / "index.mp4", count, NTSC_FILM)
        info = probe(clip)
        out = write_all(tmp_path / "out.mp4", list(read_frames(clip)), info.fps)
        result = probe(out)
        assert (result.width, result.height, result.fps, result.frames) == (64, 48, NTSC_FILM, count)
        assert result.duration == pytest.approx(count * 1001 / 24000)
        decoded = levels(list(read_frames(out)))
        assert np.abs(np.array(decoded) - 10 * np.arange(count)).max() <= 2  # no lag, no repeated frame

    def test_mp4_is_h264_yuv420p_bt709_with_faststart(self, tmp_path: Path) -> None:
        colour = np.full((48, 64, 3), (200, 60, 120), np.uint8)
        out = write_all(tmp_path / "out.mp4", [colour] * 3)
        text = header(out)
        assert "h264" in text and "yuv420p(tv, bt709" in text
        data = out.read_bytes()
        assert data.index(b"moov") < data.index(b"mdat")  # +faststart: the index comes first
        assert np.abs(next(read_frames(out)).astype(int) - colour).max() <= 3

    def test_odd_size_is_padded_not_scaled(self, tmp_path: Path) -> None:
        cells = np.random.default_rng(0).integers(0, 256, (6, 8), dtype=np.uint8)
        grey = np.kron(cells, np.ones((8, 8), np.uint8))[:47, :63]  # sharp 8 px blocks, 63x47
        picture = np.repeat(grey[:, :, None], 3, axis=2)
        out = write_all(tmp_path / "odd.mp4", [picture] * 2, crf=0)
        info = probe(out)
        assert (info.width, info.height) == (64, 48)
        frame = next(read_frames(out)).astype(int)
        assert np.abs(frame[:47, :63] - picture).max() <= 2  # scaling 63 -> 64 would move every edge
        assert np.abs(frame[:47, 63] - picture[:, 62]).max() <= 2  # the extra column repeats the edge
        assert np.abs(frame[47, :63] - picture[46]).max() <= 2

    def test_odd_size_keeps_its_exact_size_in_png_frames_and_webm(self, tmp_path: Path) -> None:
        frames = grey_frames(3, size=(63, 47))
        for out in (write_all(tmp_path / "frames", frames), write_all(tmp_path / "odd.webm", frames)):
            assert [frame.shape for frame in read_frames(out)] == [(47, 63, 3)] * 3

    def test_gif_is_readable_and_loops(self, tmp_path: Path) -> None:
        out = write_all(tmp_path / "out.gif", grey_frames(5), Fraction(10))
        info = probe(out)
        assert (info.codec, info.frames, info.fps) == ("gif", 5, Fraction(10))
        assert b"NETSCAPE2.0" in out.read_bytes()  # the loop extension
        assert np.abs(np.array(levels(list(read_frames(out)))) - [0, 10, 20, 30, 40]).max() <= 2

    def test_webm_is_vp9_with_exact_rate(self, tmp_path: Path) -> None:
        out = write_all(tmp_path / "out.webm", grey_frames(5), NTSC_FILM)
        info = probe(out)
        assert (info.codec, info.frames, info.fps) == ("vp9", 5, NTSC_FILM)

    def test_webm_falls_back_to_vp8_without_vp9(self, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(write, "encoders", lambda: frozenset({"libvpx"}))
        out = write_all(tmp_path / "out.webm", grey_frames(3))
        assert probe(out).codec == "vp8"

    def test_frames_folder_replaces_an_earlier_frames_folder(self, tmp_path: Path) -> None:
        write_all(tmp_path / "frames", grey_frames(4))
        write_all(tmp_path / "frames", grey_frames(2))
        assert listing(tmp_path / "frames") == ["frame_000001.png", "frame_000002.png"]
        assert listing(tmp_path) == ["frames"]

    def test_writer_does_not_modify_frames_and_accepts_views(self, tmp_path: Path) -> None:
        base = np.random.default_rng(2).integers(0, 256, (48, 128, 3), dtype=np.uint8)
        view = base[:, ::2]  # not contiguous
        before = view.copy()
        out = write_all(tmp_path / "frames", [view])
        assert np.array_equal(view, before)
        assert np.array_equal(next(read_frames(out)), before)


class TestAudio:
    @pytest.fixture
    def tone_after_half_a_second(self, tmp_path: Path) -> Path:
        """2 s at 25 fps; silent for 0.5 s, then a 440 Hz tone."""
        clip = tmp_path / "source.mp4"
        ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=2", "-f", "lavfi", "-i",
               "aevalsrc=if(gte(t\\,0.5)\\,sin(2*PI*440*t)\\,0):s=44100:d=2", "-c:v", "libx264",
               "-pix_fmt", "yuv420p", "-c:a", "aac", clip)
        return clip

    def test_audio_is_cut_to_the_video(self, tmp_path: Path, tone_after_half_a_second: Path) -> None:
        source = tone_after_half_a_second
        frames = list(read_frames(source, start=0.5, duration=1.0))
        assert len(frames) == 25
        out = write_all(tmp_path / "out.mp4", frames, audio_from=source, audio_start=0.5,
                        audio_duration=1.0, inputs=[source])
        assert probe(out).has_audio and "aac" in header(out)
        assert container_duration(out) == pytest.approx(1.0, abs=1 / 25)
        samples = decode_audio(out)
        assert len(samples) / 8000 == pytest.approx(1.0, abs=1 / 25)
        assert np.sqrt(np.mean(samples[:400] ** 2)) > 0.3  # starts on the tone: the cut starts at 0.5 s

    def test_uncut_audio_starts_silent_and_ends_with_the_frames(self, tmp_path: Path,
                                                                tone_after_half_a_second: Path) -> None:
        out = write_all(tmp_path / "out.mp4", grey_frames(17), audio_from=tone_after_half_a_second)
        assert container_duration(out) == pytest.approx(17 / 25, abs=1 / 25)  # 2 s of audio cut to 0.68
        samples = decode_audio(out)
        assert len(samples) / 8000 == pytest.approx(17 / 25, abs=1 / 25)
        assert np.sqrt(np.mean(samples[:400] ** 2)) < 0.01

    def test_short_audio_is_padded_to_the_video(self, tmp_path: Path) -> None:
        ffmpeg("-f", "lavfi", "-i", "sine=duration=0.3", tmp_path / "short.m4a")
        out = write_all(tmp_path / "out.webm", grey_frames(25), audio_from=tmp_path / "short.m4a")
        assert probe(out).has_audio and "opus" in header(out)
        assert len(decode_audio(out)) / 8000 == pytest.approx(1.0, abs=1 / 25)  # padded with silence

    def test_no_audio_in_gif_or_from_a_silent_source(self, tmp_path: Path) -> None:
        silent = index_clip(tmp_path / "silent.mp4", 3)
        assert not probe(write_all(tmp_path / "a.mp4", grey_frames(3), audio_from=silent)).has_audio
        ffmpeg("-f", "lavfi", "-i", "sine=duration=1", tmp_path / "tone.m4a")
        out = write_all(tmp_path / "b.gif", grey_frames(3), audio_from=tmp_path / "tone.m4a")
        assert probe(out).frames == 3

    def test_audio_start_past_its_end(self, tmp_path: Path) -> None:
        ffmpeg("-f", "lavfi", "-i", "sine=duration=1", tmp_path / "tone.m4a")
        with pytest.raises(InputError, match=r"only 1\.000 s long"):
            VideoWriter(tmp_path / "out.mp4", fps=Fraction(25), size=(64, 48),
                        audio_from=tmp_path / "tone.m4a", audio_start=3.0)
        assert listing(tmp_path) == ["tone.m4a"]


class TestAtomicity:
    @pytest.mark.parametrize("name", ["out.mp4", "out.gif", "frames"])
    def test_exception_in_the_with_block_leaves_nothing(self, tmp_path: Path, name: str) -> None:
        with pytest.raises(RuntimeError, match="boom"):
            with VideoWriter(tmp_path / name, fps=Fraction(25), size=(64, 48)) as writer:
                writer.write(grey_frames(1)[0])
                assert any(entry.startswith(f".{name}.") for entry in listing(tmp_path))  # a part exists
                raise RuntimeError("boom")
        assert listing(tmp_path) == []

    def test_existing_output_survives_a_failure(self, tmp_path: Path) -> None:
        target = tmp_path / "out.mp4"
        target.write_bytes(b"previous video")
        with pytest.raises(KeyboardInterrupt):
            with VideoWriter(target, fps=Fraction(25), size=(64, 48)) as writer:
                writer.write(grey_frames(1)[0])
                raise KeyboardInterrupt
        assert target.read_bytes() == b"previous video"
        assert listing(tmp_path) == ["out.mp4"]

    def test_abort_with_audio_removes_both_part_files(self, tmp_path: Path) -> None:
        ffmpeg("-f", "lavfi", "-i", "sine=duration=1", tmp_path / "tone.m4a")
        writer = VideoWriter(tmp_path / "out.mp4", fps=Fraction(25), size=(64, 48),
                             audio_from=tmp_path / "tone.m4a")
        writer.write(grey_frames(1)[0])
        assert len(listing(tmp_path)) == 3  # tone, the final part and the video-only part
        writer.abort()
        assert listing(tmp_path) == ["tone.m4a"]

    def test_close_returns_the_path_and_leaves_only_the_output(self, tmp_path: Path) -> None:
        writer = VideoWriter(tmp_path / "out.mp4", fps=Fraction(25), size=(64, 48))
        writer.write(grey_frames(1)[0])
        assert writer.close() == tmp_path / "out.mp4"
        assert listing(tmp_path) == ["out.mp4"] and writer.frames_written == 1
        with pytest.raises(ValueError, match="closed"):
            writer.write(grey_frames(1)[0])


class TestWriterErrors:
    def test_unknown_extension_creates_nothing(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="unknown output format '.avi'"):
            VideoWriter(tmp_path / "out.avi", fps=Fraction(25), size=(64, 48))
        assert listing(tmp_path) == []

    def test_missing_directory(self, tmp_path: Path) -> None:
        for name in ("missing/out.mp4", "missing/frames/"):
            with pytest.raises(OutputError, match="does not exist"):
                VideoWriter(tmp_path / name, fps=Fraction(25), size=(64, 48))
        assert listing(tmp_path) == []

    def test_output_must_not_be_the_input(self, tmp_path: Path) -> None:
        clip = index_clip(tmp_path / "clip.mp4", 2)
        with pytest.raises(OutputError, match="same as the input"):
            VideoWriter(clip, fps=Fraction(25), size=(64, 48), audio_from=clip)
        assert probe(clip).frames == 2

    def test_frames_folder_with_other_files_is_refused(self, tmp_path: Path) -> None:
        (tmp_path / "frames").mkdir()
        (tmp_path / "frames" / "notes.txt").write_text("keep me")
        with pytest.raises(OutputError, match="already holds other files"):
            VideoWriter(tmp_path / "frames", fps=Fraction(25), size=(64, 48))
        assert listing(tmp_path / "frames") == ["notes.txt"]

    def test_no_frames_written(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="no frames were written"):
            with VideoWriter(tmp_path / "out.mp4", fps=Fraction(25), size=(64, 48)):
                pass
        assert listing(tmp_path) == []

    def test_wrong_frame_shape_is_a_programming_error(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=r"expected a frame of shape \(48, 64, 3\) uint8"):
            with VideoWriter(tmp_path / "out.mp4", fps=Fraction(25), size=(64, 48)) as writer:
                writer.write(np.zeros((64, 48, 3), np.uint8))
        assert listing(tmp_path) == []

    def test_ffmpeg_failure_quotes_its_message_and_leaves_nothing(self, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(write, "_video_options", lambda *args, **kwargs: ["-c:v", "no_such_codec"])
        with pytest.raises(OutputError, match=r"ffmpeg .*out\.mp4: Unknown encoder 'no_such_codec'") as error:
            with VideoWriter(tmp_path / "out.mp4", fps=Fraction(25), size=(64, 48)) as writer:
                for frame in grey_frames(20):
                    writer.write(frame)
        assert_one_line(error)
        assert listing(tmp_path) == []

    def test_ffmpeg_dying_mid_encode(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="ffmpeg"):
            with VideoWriter(tmp_path / "out.mp4", fps=Fraction(25), size=(64, 48)) as writer:
                writer.write(grey_frames(1)[0])
                writer._process.kill()  # a crash of the encoder
                writer._process.wait()
                for frame in grey_frames(20):
                    writer.write(frame)
        assert listing(tmp_path) == []

    @pytest.mark.parametrize("options", [
        {"fps": 23.976}, {"fps": Fraction(0)}, {"size": (0, 48)}, {"size": (64,)}, {"crf": 52},
        {"audio_start": -1.0}, {"audio_duration": 0.0},
    ])
    def test_bad_options(self, tmp_path: Path, options: dict) -> None:
        arguments = {"fps": Fraction(25), "size": (64, 48), **options}
        with pytest.raises(ConfigError, match="expected"):
            VideoWriter(tmp_path / "out.mp4", **arguments)
        assert listing(tmp_path) == []


@pytest.mark.parametrize("pix_fmt", ["yuva444p10le", "gray16le", "bgr0"])
def test_high_depth_alpha_and_gray_pixel_formats_are_converted(tmp_path, pix_fmt):
    """Pixel formats other than 8-bit YUV (10/16-bit, alpha, gray) decode to 8-bit RGB, not an error."""
    colour = (200, 200, 200) if pix_fmt == "gray16le" else (200, 100, 50)
    frames = [np.full((48, 64, 3), colour, np.uint8)] * 3
    clip = make_clip(tmp_path / f"{pix_fmt}.mkv", frames, Fraction(25), "-c:v", "ffv1", "-pix_fmt", pix_fmt)
    assert pix_fmt.split("le")[0][:4] in header(clip)
    decoded = list(read_frames(clip))
    assert len(decoded) == 3 and decoded[0].shape == (48, 64, 3) and decoded[0].dtype == np.uint8
    assert np.abs(decoded[1].reshape(-1, 3).mean(0) - colour).max() < 4
