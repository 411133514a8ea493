"""Audio analysis: decoding through ffmpeg, per-frame envelopes, beats, and the analyze command."""

from __future__ import annotations

import csv
import re
import importlib.util
import subprocess
import wave
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from typer.testing import CliRunner

from dreamvid import cli
from dreamvid.audio import NAMES, analyze, smooth
from dreamvid.errors import InputError
from dreamvid.images import read_image
from dreamvid.video import read_audio

SR = 22050
runner = CliRunner()


def click_track(times: np.ndarray, seconds: float, *, rate: int = SR) -> np.ndarray:
    """Short decaying noise bursts (drum-like clicks) at ``times``."""
    rng = np.random.default_rng(0)
    out = np.zeros(int(seconds * rate), np.float32)
    n = int(0.01 * rate)
    for t in times:
        i = int(round(t * rate))
        out[i:i + n] += (rng.standard_normal(n) * np.exp(-np.arange(n) / (0.002 * rate)) * 0.8).astype(np.float32)
    return out


def burst(freq: float, start: float, stop: float, seconds: float, *, rate: int = SR) -> np.ndarray:
    """A sine from ``start`` to ``stop`` seconds with 10 ms fades (no click at its ends)."""
    t = np.arange(int(seconds * rate)) / rate
    fade = np.clip(np.minimum(t - start, stop - t) / 0.01, 0, 1)
    return (0.5 * fade * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = SR) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def peaks(values: np.ndarray, threshold: float = 0.5) -> list[int]:
    return [k for k in range(1, len(values) - 1)
            if values[k] >= values[k - 1] and values[k] > values[k + 1] and values[k] > threshold]


# clicks at 120 BPM, nudged off any frame grid
CLICKS = 0.3 + np.arange(16) * 0.5 + np.tile([0.0, 0.013, 0.027, 0.004], 4)


class TestEnvelopes:
    @pytest.mark.parametrize("fps", [24, 30, 60])
    def test_onsets_and_beats_land_within_a_frame_of_each_click(self, fps):
        env = analyze(click_track(CLICKS, 9.0), SR, fps=fps)
        for name in ("onset", "beat"):
            found = peaks(env[name])
            assert len(found) == len(CLICKS), name
            errors = [min(abs(p - t * fps) for p in found) for t in CLICKS]
            assert max(errors) <= 1.0, (name, errors)
        assert env.tempo == pytest.approx(120, rel=0.05)
        assert np.abs(env.beats - CLICKS).max() < 0.012  # beat times themselves, in seconds

    def test_one_value_per_frame(self):
        env = analyze(click_track(CLICKS, 9.0), SR, fps=30)
        assert env.frames == 270 and all(len(env[n]) == 270 for n in NAMES)
        assert all(env[n].dtype == np.float32 and env[n].min() >= 0 and env[n].max() <= 1 for n in NAMES)
        longer = analyze(click_track(CLICKS, 9.0), SR, fps=24000 / 1001, frames=400)
        assert longer.frames == 400 and float(longer.rms[-100:].max()) < 1e-6  # past the audio: silence

    def test_low_sine_lights_low_not_high(self):
        env = analyze(burst(60, 1.0, 2.0, 3.0), SR, fps=30)
        assert env.low[36:54].min() > 0.9  # inside the burst
        assert env.low[:25].max() < 0.05 and env.low[85:].max() < 0.05  # before, and after its release (0.25 s)
        assert env.high.max() < 0.05 and env.mid.max() < 0.1

    def test_high_sine_lights_high_not_low(self):
        env = analyze(burst(5000, 1.0, 2.0, 3.0), SR, fps=30)
        assert env.high[36:54].min() > 0.9 and env.low.max() < 0.05

    def test_silence_gives_zeros(self):
        for samples in (np.zeros(SR * 2, np.float32), np.zeros(0, np.float32)):
            env = analyze(samples, SR, fps=30, frames=60)
            assert env.frames == 60 and all(not env[n].any() for n in NAMES)
            assert len(env.beats) == 0 and env.tempo == 0.0

    def test_noise_has_no_beat(self):
        rng = np.random.default_rng(1)
        env = analyze((rng.standard_normal(SR * 5) * 0.1).astype(np.float32), SR, fps=30)
        assert len(env.beats) == 0 and not env.beat.any()

    def test_attack_release(self):
        out = smooth(np.array([0, 1, 1, 0, 0], np.float32), fps=10, attack=0.1, release=0.2)
        a, r = np.exp(-1), np.exp(-0.5)
        expected = [0, 1 - a, (1 - a) * a + (1 - a), 0, 0]
        expected[3] = r * expected[2]
        expected[4] = r * expected[3]
        assert out.tolist() == pytest.approx(expected, rel=1e-5)

    def test_unknown_envelope(self):
        from dreamvid.errors import ConfigError

        env = analyze(np.zeros(100, np.float32), SR, fps=30)
        with pytest.raises(ConfigError, match="unknown envelope 'bass'; envelopes are rms, onset"):
            env["bass"]


@pytest.mark.skipif(importlib.util.find_spec("pygame") is None, reason="pygame (its sample house loop) not installed")
def test_real_recording_house_loop():
    """pygame ships a real house drum loop (7.3 s, 11 kHz): the beat must follow its kick drum."""
    spec = importlib.util.find_spec("pygame")
    path = Path(list(spec.submodule_search_locations)[0]) / "examples" / "data" / "house_lo.mp3"
    env = analyze(read_audio(path), SR, fps=30)
    assert 130 < env.tempo < 140  # 16 kicks in 7.1 s
    assert len(env.beats) >= 14
    intervals = np.diff(env.beats)
    assert np.abs(intervals - np.median(intervals)).max() < 0.02  # steady, no skipped or doubled beat
    kicks = peaks(env.low, 0.6)  # the kick drum is what lights the low band
    frames = np.round(env.beats * 30).astype(int)
    assert np.mean([min(abs(f - k) for k in kicks) <= 3 for f in frames]) >= 0.9


class TestReadAudio:
    def ffmpeg(self, *args: str) -> None:
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)

    @pytest.mark.parametrize("suffix, codec", [(".mp3", "libmp3lame"), (".flac", "flac"), (".m4a", "aac"),
                                               (".ogg", "libvorbis")])
    def test_formats_decode_to_the_same_clicks(self, tmp_path, suffix, codec):
        wav = write_wav(tmp_path / "clicks.wav", click_track(CLICKS, 9.0))
        out = tmp_path / f"clicks{suffix}"
        self.ffmpeg("-i", str(wav), "-ac", "2", "-c:a", codec, str(out))
        env = analyze(read_audio(out), SR, fps=30)
        assert env.tempo == pytest.approx(120, rel=0.05)
        assert np.abs(env.beats[:16] - CLICKS[: len(env.beats[:16])]).max() < 0.03  # codec delay at most ~25 ms

    def test_rate_start_duration(self, tmp_path):
        wav = write_wav(tmp_path / "a.wav", burst(440, 0, 3, 3.0))
        assert read_audio(wav).shape == (3 * SR,)
        assert read_audio(wav, sample_rate=8000, start=1.0, duration=0.5).shape == (4000,)

    def test_video_soundtrack(self, tmp_path):
        clip = tmp_path / "v.mp4"
        self.ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-f", "lavfi", "-i", "sine=frequency=440:duration=1",
                    "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip))
        samples = read_audio(clip)
        assert abs(len(samples) - SR) < SR * 0.05 and np.abs(samples).max() > 0.05

    @pytest.mark.parametrize("name, make, message", [
        ("missing.mp3", None, "input file not found"),
        ("empty.mp3", b"", "is empty (0 bytes)"),
        ("text.mp3", b"this is not a song\n" * 20, "cannot read"),
    ])
    def test_bad_files(self, tmp_path, name, make, message):
        path = tmp_path / name
        if make is not None:
            path.write_bytes(make)
        with pytest.raises(InputError, match=re.escape(message)):
            read_audio(path)

    def test_video_without_audio(self, tmp_path):
        clip = tmp_path / "silent.mp4"
        self.ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-t", "0.5", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", str(clip))
        with pytest.raises(InputError, match="has no audio stream"):
            read_audio(clip)

    def test_start_past_end(self, tmp_path):
        wav = write_wav(tmp_path / "a.wav", burst(440, 0, 1, 1.0))
        with pytest.raises(InputError, match="past the end"):
            read_audio(wav, start=5)


class TestAnalyzeCommand:
    def test_plot_and_csv(self, tmp_path):
        wav = write_wav(tmp_path / "clicks.wav", click_track(CLICKS, 9.0))
        plot, table = tmp_path / "env.png", tmp_path / "env.csv"
        result = runner.invoke(cli.app, ["analyze", str(wav), "--fps", "24", "--plot", str(plot), "--csv", str(table)])
        assert result.exit_code == 0, result.output
        assert "tempo      1" in result.output and "BPM, 16 beats" in result.output
        picture = read_image(plot)
        assert picture.shape[1] >= 1200 and picture.std() > 10
        rows = list(csv.DictReader(table.open()))
        assert len(rows) == 216 and list(rows[0]) == ["frame", "time", *NAMES, "is_beat"]
        assert sum(int(r["is_beat"]) for r in rows) == 16

    def test_no_audio_stream(self, tmp_path):
        still = tmp_path / "x.png"
        from dreamvid.images import write_image

        write_image(still, np.zeros((8, 8, 3), np.uint8))
        result = runner.invoke(cli.app, ["analyze", str(still), "--plot", str(tmp_path / "p.png")])
        assert result.exit_code == 1 and "has no audio stream" in result.output and "Traceback" not in result.output
        assert not (tmp_path / "p.png").exists()

    def test_bad_fps_and_plot_name(self, tmp_path):
        wav = write_wav(tmp_path / "a.wav", burst(440, 0, 1, 1.0))
        result = runner.invoke(cli.app, ["analyze", str(wav), "--fps", "0"])
        assert result.exit_code == 1 and "--fps must be above 0" in result.output
        result = runner.invoke(cli.app, ["analyze", str(wav), "--plot", str(tmp_path / "p.jpg")])
        assert result.exit_code == 1 and "Traceback" not in result.output
