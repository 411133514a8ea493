"""Hostile inputs (issue 17): each is refused with one ``error:`` line, a non-zero exit, no traceback and
nothing at the target.

One test per row of the issue, written as the input a hostile user typed, through the real CLI (typer's
CliRunner, in process) on tiny inputs: a 64x64 picture, a 6-frame 64x48 clip, a 1-second tone and a WAV
with no samples. Besides: a checkpoint is checked whole before any frame is dreamed, an input changed
with the same size and time is noticed, and a disk that fills mid-render leaves a checkpoint that resumes
to the frames of an uninterrupted render (on a real tmpfs where mounting one is allowed).
"""

from __future__ import annotations

import json
import os
import subprocess
import wave
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from typer.testing import CliRunner

from dreamvid import cli, pipeline
from dreamvid.checkpoint import checkpoint_dir
from dreamvid.images import write_image
from dreamvid.video import read_frames

runner = CliRunner()
FAST = ["--set", "dream.octaves=1", "--set", "dream.steps=1", "--set", "video.seeded_octaves=1",
        "--set", "video.seeded_steps=1", "--set", "run.threads=1", "--set", "run.device=cpu"]
ZOOM = ["--frames", "6", "--size", "64x64", "--fps", "12", *FAST]


def run(*args: object):
    return runner.invoke(cli.app, [str(a) for a in args])


def assert_refused(result, *parts: str, target: Path) -> str:
    """Exit != 0, exactly one ``error:`` line holding every part, no traceback, nothing at ``target``."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    assert all(part in lines[0] for part in parts), lines[0]
    assert not target.exists() and not target.with_name(target.name + ".json").exists()
    return lines[0]


def write_wav(path: Path, samples: np.ndarray, rate: int = 22050) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 16000).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    y, x = np.mgrid[0:64, 0:64]
    picture = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.uint8)
    write_image(folder / "pic.png", picture)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=size=64x48:rate=6:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(folder / "v.mp4")], check=True)
    write_wav(folder / "tone.wav", np.sin(np.arange(22050) * 2 * np.pi * 440 / 22050))
    write_wav(folder / "empty.wav", np.zeros(0))
    return {"pic": folder / "pic.png", "clip": folder / "v.mp4", "tone": folder / "tone.wav",
            "empty": folder / "empty.wav"}


def preset(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hostile.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------- the eleven rows


@pytest.mark.parametrize("objective", ["1e309*b10", "-1e309*b10"])
def test_1_infinite_objective_weight(tmp_path, inputs, objective):
    out = tmp_path / "out.png"
    result = run("image", inputs["pic"], "-o", out, "--objective", objective, *FAST)
    assert_refused(result, "out of range", "-1000000 to 1000000", target=out)


def test_2_duration_shorter_than_a_frame(tmp_path, inputs):
    out = tmp_path / "out.mp4"
    result = run("video", inputs["clip"], "-o", out, "--duration", "1e-9", *FAST)
    assert_refused(result, "at least one frame", "6 fps", "1e-09", target=out)
    assert not checkpoint_dir(out).exists()


def test_2_progress_total_of_a_duration_holds(tmp_path, inputs, monkeypatch):
    totals = []
    monkeypatch.setattr(cli._Bar, "__call__", lambda self, done, total, preview=None: totals.append(total))
    out = tmp_path / "out.mp4"
    result = run("video", inputs["clip"], "-o", out, "--duration", "0.34", *FAST)
    assert result.exit_code == 0, result.output
    assert len(list(read_frames(out))) == 3 and set(totals) == {3}


def stop_after(monkeypatch, frames: int) -> None:
    """Ctrl-C once ``frames`` frames are done (what the progress bar sees)."""
    def progress(self, done, total, preview=None):
        if done == frames:
            raise KeyboardInterrupt
    monkeypatch.setattr(cli._Bar, "__call__", progress)


def killed_zoom(tmp_path: Path, inputs, monkeypatch) -> tuple[Path, list[str]]:
    """A zoom stopped after 3 of 6 frames: its output path and the command that resumes it."""
    out = tmp_path / "zoom.mp4"
    command = ["zoom", inputs["pic"], "-o", out, *ZOOM]
    with monkeypatch.context() as patched:
        stop_after(patched, 3)
        assert run(*command).exit_code == 130
    assert sorted(os.listdir(checkpoint_dir(out) / "frames"))[-1] == "frame_000002.png"
    return out, [*command, "--resume"]


def resume_must_not_dream(monkeypatch, command: list[object]):
    """Run ``command``, failing if any frame is dreamed (the engine is only built after the checkpoint opens)."""
    def no_engine(config):
        raise AssertionError("a frame was about to be dreamed")
    monkeypatch.setattr(pipeline, "engine_for", no_engine)
    return run(*command)


def test_3_checkpoint_frame_of_another_size(tmp_path, inputs, monkeypatch):
    out, resume = killed_zoom(tmp_path, inputs, monkeypatch)
    write_image(checkpoint_dir(out) / "frames" / "frame_000001.png", np.zeros((64, 1, 3), np.uint8))
    for _ in range(2):  # and again on the next resume
        line = assert_refused(resume_must_not_dream(monkeypatch, resume), "is damaged", "add --restart", target=out)
        assert "frame_000001.png is 1x64 pixels, not 64x64" in line


def test_4_reaction_divides_by_a_constant_zero(tmp_path, inputs):
    out = tmp_path / "out.mp4"
    result = run("zoom", inputs["pic"], "-o", out, "--audio", inputs["tone"], "--react", "step_size += 1/0", *ZOOM)
    assert_refused(result, "1 / 0 is not a finite number", "change the expression", target=out)


@pytest.mark.parametrize("reaction", ["step_size += 10.0**400", "step_size += 2**2**2**2**2"])
def test_5_reaction_overflows(tmp_path, inputs, reaction):
    out = tmp_path / "out.mp4"
    result = run("zoom", inputs["pic"], "-o", out, "--audio", inputs["tone"], "--react", reaction, *ZOOM)
    assert_refused(result, "is not a finite number", "beyond ±1.8e308", target=out)


@pytest.mark.parametrize("how", ["--seed", "--set", "preset"])
def test_6_seed_of_2_to_the_64(tmp_path, inputs, how):
    out, seed = tmp_path / "out.png", str(2**64)
    given = {"--seed": ["--seed", seed], "--set": ["--set", f"run.seed={seed}"],
             "preset": ["--preset", preset(tmp_path, f"[run]\nseed = {seed}\n")]}[how]
    result = run("image", inputs["pic"], "-o", out, *FAST, *given)
    assert_refused(result, "run.seed must be an integer from 0 to 18446744073709551615 (below 2^64)", target=out)


@pytest.mark.parametrize("how", ["--set", "preset"])
def test_7_steps_with_5000_digits(tmp_path, inputs, how):
    out, digits = tmp_path / "out.png", "7" * 5000
    given = (["--set", f"dream.steps={digits}"] if how == "--set"
             else ["--preset", preset(tmp_path, f"[dream]\nsteps = {digits}\n")])
    line = assert_refused(run("image", inputs["pic"], "-o", out, *given), "integer with thousands of digits",
                          target=out)
    assert len(line) < 200


@pytest.mark.parametrize("depth", [500, 2000])
@pytest.mark.parametrize("how", ["--set", "preset"])
def test_8_value_nested_deep(tmp_path, inputs, how, depth):
    out, value = tmp_path / "out.png", "[" * depth + "1" + "]" * depth
    given = (["--set", f"dream.steps={value}"] if how == "--set"
             else ["--preset", preset(tmp_path, f"[dream]\nsteps = {value}\n")])
    result = run("image", inputs["pic"], "-o", out, *given)
    assert_refused(result, "nests arrays or tables more than 8 levels deep", target=out)
    assert len(result.output.splitlines()) < 5


@pytest.mark.parametrize("command", ["zoom", "video"])
def test_9_soundtrack_without_samples(tmp_path, inputs, command):
    out = tmp_path / "out.mp4"
    source, more = (inputs["pic"], ZOOM) if command == "zoom" else (inputs["clip"], FAST)
    result = run(command, source, "-o", out, "--audio", inputs["empty"], *more)
    assert_refused(result, "empty.wav has no sound samples", "give a soundtrack that has sound", target=out)


@pytest.mark.parametrize("objective, message", [
    ("", "--objective is empty"), (" ", "--objective is empty"), ("b10:", "malformed channel list in 'b10:'")])
def test_10_blank_objective_given_explicitly(tmp_path, inputs, objective, message):
    out = tmp_path / "out.png"
    assert_refused(run("image", inputs["pic"], "-o", out, "--objective", objective, *FAST), message, target=out)


def test_10_blank_objective_of_a_preset_is_recorded_as_the_default_layer(tmp_path, inputs):
    out = tmp_path / "out.png"
    result = run("image", inputs["pic"], "-o", out, "--preset", preset(tmp_path, '[dream]\nobjective = ""\n'), *FAST)
    assert result.exit_code == 0, result.output
    assert json.loads(out.with_name("out.png.json").read_text())["dream"]["objective"] == "b10"


def test_11_garbled_checkpoint_frame(tmp_path, inputs, monkeypatch):
    out, resume = killed_zoom(tmp_path, inputs, monkeypatch)
    frame = checkpoint_dir(out) / "frames" / "frame_000001.png"
    data = bytearray(frame.read_bytes())
    data[len(data) // 2: len(data) // 2 + 16] = b"\xff" * 16
    frame.write_bytes(bytes(data))
    before = sorted(os.listdir(checkpoint_dir(out) / "frames"))
    line = assert_refused(resume_must_not_dream(monkeypatch, resume), "is damaged", "add --restart", target=out)
    assert "frame_000001.png is garbled" in line
    assert sorted(os.listdir(checkpoint_dir(out) / "frames")) == before


# ------------------------------------------------------------------------------------------- besides


def test_input_changed_with_the_same_size_and_time(tmp_path, inputs, monkeypatch):
    picture = tmp_path / "pic.bmp"  # uncompressed: another picture of the same size has the same length
    pixels = np.zeros((64, 64, 3), np.uint8)
    assert cv2.imwrite(str(picture), pixels)
    out = tmp_path / "zoom.mp4"
    command = ["zoom", picture, "-o", out, *ZOOM]
    with monkeypatch.context() as patched:
        stop_after(patched, 3)
        assert run(*command).exit_code == 130
    stat = picture.stat()
    pixels[10, 10] = 255
    assert cv2.imwrite(str(picture), pixels)
    os.utime(picture, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert picture.stat().st_size == stat.st_size and picture.stat().st_mtime_ns == stat.st_mtime_ns
    line = assert_refused(resume_must_not_dream(monkeypatch, [*command, "--resume"]), "cannot resume",
                          target=out)
    assert f"input (the file {picture} changed since: its content, not its size or time)" in line


def test_disk_full_mid_render_leaves_a_usable_checkpoint(tmp_path, inputs, monkeypatch):
    """A 2 MiB tmpfs (needs the right to mount, as root here) fills after 3 frames: one error line, then,
    once there is room, --resume gives the frames of an uninterrupted render."""
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (mount says: {mounted.stderr.decode().strip()}); needs root or "
                    "CAP_SYS_ADMIN")
    try:
        whole = tmp_path / "whole.mp4"
        assert run("zoom", inputs["pic"], "-o", whole, *ZOOM).exit_code == 0
        out, ballast = mount / "zoom.mp4", mount / "ballast"

        def fill(self, done, total, preview=None):
            if done == 3 and not ballast.exists():
                with ballast.open("wb") as stream:
                    try:
                        while True:
                            stream.write(bytes(16384))
                            stream.flush()
                    except OSError:
                        pass

        with monkeypatch.context() as patched:
            patched.setattr(cli._Bar, "__call__", fill)
            result = run("zoom", inputs["pic"], "-o", out, *ZOOM)
        assert_refused(result, "No space left on device", target=out)
        assert checkpoint_dir(out).is_dir()
        ballast.unlink()
        result = run("zoom", inputs["pic"], "-o", out, *ZOOM, "--resume")
        assert result.exit_code == 0, result.output
        got, expected = list(read_frames(out)), list(read_frames(whole))
        assert len(got) == len(expected) == 6 and all(np.array_equal(a, b) for a, b in zip(got, expected))
    finally:
        subprocess.run(["umount", str(mount)], check=False)
