"""Endless zoom: the feedback loop, the loop crossfade and the command."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from dreamvid import cli
from dreamvid.images import write_image
from dreamvid.pipeline import loop_crossfade
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
