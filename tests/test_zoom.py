"""Endless zoom: the feedback loop, the loop crossfade and the command."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from dreamvid import cli
from dreamvid.images import write_image
from dreamvid.render import loop_crossfade
from dreamvid.video import probe, read_frames

runner = CliRunner()
FAST = ["--set", "dream.octaves=1", "--set", "dream.steps=2", "--set", "video.seeded_octaves=1",
        "--set", "video.seeded_steps=1"]


def test_loop_crossfade_exact():
    raw = [np.array([float(k)]) for k in range(8)]  # 6 output frames, 2 of overlap
    out = [float(f[0]) for f in loop_crossfade(iter(raw), count=6, overlap=2)]
    # out[j] = raw[2 + j]; the last two fade into raw[0], raw[1] with weights 1/2 and 1
    assert out == [2.0, 3.0, 4.0, 5.0, 0.5 * 6 + 0.5 * 0, 1.0 * 1]


def test_zoom_from_noise_with_loop(tmp_path):
    out = tmp_path / "z.mp4"
    result = runner.invoke(cli.app, ["zoom", "-o", str(out), "--frames", "6", "--fps", "12", "--size", "64x48",
                                     "--loop", "0.25", *FAST])
    assert result.exit_code == 0, result.output
    info = probe(out)
    assert info.frames == 6 and info.fps == 12 and (info.width, info.height) == (64, 48)


def test_still_settings_keep_the_picture(tmp_path):
    from skimage import data

    picture = tmp_path / "cat.png"
    write_image(picture, np.ascontiguousarray(data.chelsea()[::6, ::6]))
    out = tmp_path / "frames"
    result = runner.invoke(cli.app, ["zoom", str(picture), "-o", str(out), "--frames", "3", "--set", "zoom.zoom=1.0",
                                     "--set", "zoom.colour=0.0", "--set", "dream.steps=0", "--set", "video.seeded_steps=0"])
    assert result.exit_code == 0, result.output
    frames = list(read_frames(out))
    assert len(frames) == 3
    assert all(np.abs(f.astype(int) - frames[0].astype(int)).max() <= 1 for f in frames)


def test_zoom_grows_the_content(tmp_path):
    from skimage import data

    picture = tmp_path / "cat.png"
    write_image(picture, np.ascontiguousarray(data.chelsea()[::4, ::4]))
    out = tmp_path / "frames"
    result = runner.invoke(cli.app, ["zoom", str(picture), "-o", str(out), "--frames", "2", "--fps", "1",
                                     "--set", "zoom.zoom=2.0", "--set", "zoom.colour=0.0", "--set", "dream.steps=0",
                                     "--set", "video.seeded_steps=0"])
    assert result.exit_code == 0, result.output
    first, second = list(read_frames(out))
    h, w = first.shape[:2]
    centre = first[h // 4: h - h // 4, w // 4: w - w // 4]
    import cv2

    grown = cv2.resize(centre, (w, h), interpolation=cv2.INTER_CUBIC)
    assert np.abs(grown.astype(int) - second.astype(int))[8:-8, 8:-8].mean() < 12


@pytest.mark.parametrize("args, message", [
    (["--fps", "abc"], "--fps must be a number"),
    (["--fps", "0"], "--fps must be above 0"),
    (["--loop", "5"], "--loop must be from 0"),
    (["--frames", "0"], "--frames must be at least 1"),
    (["--set", "zoom.zoom=\"0:1, x\""], "malformed schedule for zoom.zoom"),
])
def test_bad_options(tmp_path, args, message):
    out = tmp_path / "z.mp4"
    result = runner.invoke(cli.app, ["zoom", "-o", str(out), "--size", "32x32", *args])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output
    assert not out.exists()


def small_cat(scale: int = 6) -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.chelsea()[::scale, ::scale]).astype(np.float32) / 255


def zoom_run(config_overrides: list[str], count: int = 4) -> list[np.ndarray]:
    from dreamvid.config import load_config
    from dreamvid.panorama import Layout
    from dreamvid.pipeline import dreamer_for, engine_for
    from dreamvid.programs import ZoomProgram
    from dreamvid.render import steps
    from dreamvid.timeline import Timeline

    config = load_config("endless-zoom", ["dream.octaves=1", "dream.steps=2", "video.seeded_octaves=1",
                                          "video.seeded_steps=2", *config_overrides])
    program = ZoomProgram(dreamer_for(config, engine_for(config), Layout(), fps=10), small_cat())
    return [frame for _, frame in steps(program, [None] * count, Timeline(config).at)]


def test_objective_switches_at_its_keyframe():
    steady = zoom_run(["dream.objective=b8"])
    switched = zoom_run(["dream.objective='0:b8, 2:b12'"])
    assert np.array_equal(steady[0], switched[0]) and np.array_equal(steady[1], switched[1])
    assert np.abs(steady[2] - switched[2]).mean() > 1e-3  # b12 from frame 2 on


def test_steps_schedule_takes_effect_per_frame():
    # no steps until frame 2, then dreaming starts: frames 0-1 are the transformed picture only
    frames = zoom_run(["dream.steps=0", "video.seeded_steps='0:0, 1:0, 2:3'", "zoom.zoom=1.0", "zoom.colour=0.0"])
    assert np.abs(frames[1] - frames[0]).max() < 1e-6
    assert np.abs(frames[2] - frames[1]).mean() > 1e-3


def test_zoom_and_rotate_flags(tmp_path):
    out = tmp_path / "frames"
    result = runner.invoke(cli.app, ["zoom", "-o", str(out), "--frames", "2", "--size", "32x32", "--zoom", "0:1.5, 9:2",
                                     "--rotate", "15", *FAST])
    assert result.exit_code == 0, result.output
    import json

    saved = json.loads((tmp_path / "frames.json").read_text())
    assert saved["zoom"]["zoom"] == "0:1.5, 9:2" and saved["zoom"]["rotate"] == 15.0


def test_bad_objective_keyframe_fails_before_rendering(tmp_path):
    out = tmp_path / "z.mp4"
    result = runner.invoke(cli.app, ["zoom", "-o", str(out), "--size", "32x32", "--objective", "0:b8, 3:b99"])
    assert result.exit_code == 1 and "b99" in result.output and "Traceback" not in result.output
    assert not out.exists()
