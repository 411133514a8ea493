"""Video dreaming: the coherence loop on synthetic motion, and whole renders through the CLI."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from typer.testing import CliRunner

from dreamvid import cli, pipeline, programs
from dreamvid.arrays import to_uint8
from dreamvid.config import load_config
from dreamvid.images import read_image
from dreamvid.metrics import clip_metrics
from dreamvid.panorama import Layout
from dreamvid.pipeline import dreamer_for, engine_for
from dreamvid.programs import CoherenceProgram
from dreamvid.render import steps
from dreamvid.timeline import Timeline
from dreamvid.video import VideoWriter, probe, read_frames

FAST = ["dream.octaves=2", "dream.steps=4", "dream.step_size=0.02", "video.seeded_octaves=1", "video.seeded_steps=2"]


def pan(n: int, *, width: int = 96, height: int = 64, dx: int = 2) -> list[np.ndarray]:
    """A real photograph panning right by ``dx`` px per frame (a crop sliding over chelsea)."""
    from skimage import data

    photo = data.chelsea()[::2, ::2]
    return [np.ascontiguousarray(photo[20:20 + height, 40 + i * dx:40 + i * dx + width]) for i in range(n)]


@pytest.fixture(scope="module")
def engine():
    return engine_for(load_config(None, FAST))


def dream_frames(frames, engine, config, *, fps: float = 30.0, timeline=None, layout=Layout()):
    """The coherence program of ``config`` stepped over ``frames``: ``[(state after, dreamed float frame), ...]``."""
    dreamer = dreamer_for(config, engine, layout, fps=fps, coherence=config.video.coherence == "flow")
    program = CoherenceProgram(dreamer, config.video.coherence, config.video.scene_cuts)
    return list(steps(program, frames, (timeline or Timeline(config)).at))


def run_frames(frames, engine, mode: str, *extra: str):
    config = load_config(None, [*FAST, f'video.coherence="{mode}"', *extra])
    pairs = dream_frames(frames, engine, config)
    return [to_uint8(frame) for _, frame in pairs], [state for state, _ in pairs]


class TestDreamFrames:
    def test_one_output_per_input_same_size(self, engine):
        frames = pan(3)
        out, reports = run_frames(frames, engine, "flow")
        assert len(out) == 3 and all(o.shape == f.shape and o.dtype == np.uint8 for o, f in zip(out, frames))
        assert [r.index for r in reports] == [1, 2, 3]  # the next frame's

    def test_flow_seeds_after_the_first_frame(self, engine):
        _, reports = run_frames(pan(3), engine, "flow")
        assert [r.seeded for r in reports] == [False, True, True]
        assert not any(r.scene_cut for r in reports)

    def test_none_and_blend_dream_every_frame_cold(self, engine):
        for mode in ("none", "blend"):
            _, reports = run_frames(pan(3), engine, mode)
            assert not any(r.seeded for r in reports)

    def test_flow_keeps_the_dream_on_the_scene(self, engine):
        frames = pan(6)
        flow_out, _ = run_frames(frames, engine, "flow")
        none_out, _ = run_frames(frames, engine, "none")
        flow_m, none_m = clip_metrics(frames, flow_out), clip_metrics(frames, none_out)
        assert flow_m.hflicker < 0.5 * none_m.hflicker
        assert flow_m.strength > 0.5 * none_m.strength  # the dream did not fade away

    def test_scene_cut_restarts_cold(self, engine):
        from skimage import data

        other = np.ascontiguousarray(data.coffee()[100:164, 200:296])
        frames = pan(2) + [other, other]
        _, reports = run_frames(frames, engine, "flow")
        assert [r.scene_cut for r in reports] == [False, False, True, False]
        assert [r.seeded for r in reports] == [False, True, False, True]

    def test_scene_cuts_off(self, engine):
        from skimage import data

        other = np.ascontiguousarray(data.coffee()[100:164, 200:296])
        _, reports = run_frames(pan(1) + [other], engine, "flow", "video.scene_cuts=false")
        assert reports[1].seeded and not reports[1].scene_cut

    def test_same_seed_same_frames(self, engine):
        a, _ = run_frames(pan(3), engine, "flow")
        b, _ = run_frames(pan(3), engine, "flow")
        assert all(np.array_equal(x, y) for x, y in zip(a, b))

    def test_blend_mixes_previous_dream(self, engine):
        frames = pan(1) * 2  # a still: blend's seed for frame 1 is half the previous dream
        config = load_config(None, [*FAST, 'video.coherence="blend"', "video.blend=1.0", "dream.steps=0"])
        out = [to_uint8(frame) for _, frame in dream_frames(frames, engine, config)]
        assert np.array_equal(out[1], frames[1])  # blend=1 and no steps: the raw frame


def make_clip(path: Path, frames: list[np.ndarray], *, fps: int = 10, audio: bool = False) -> Path:
    """Write frames losslessly-ish as an MP4 (with a sine tone when ``audio``)."""
    with VideoWriter(path, fps=Fraction(fps), size=(frames[0].shape[1], frames[0].shape[0]), crf=0) as writer:
        for frame in frames:
            writer.write(frame)
    if audio:
        ff = imageio_ffmpeg.get_ffmpeg_exe()
        muxed = path.with_name("a" + path.name)
        subprocess.run([ff, "-v", "error", "-y", "-i", str(path), "-f", "lavfi", "-i", "sine=frequency=440:duration=5",
                        "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", str(muxed)], check=True)
        muxed.replace(path)
    return path


runner = CliRunner()


class TestFeedbackInVideo:
    """``[zoom]`` in ``dreamvid video``: the carried dream (and ``feedback`` of the whole frame) moves."""

    def still(self, n: int = 2) -> list[np.ndarray]:
        return [pan(1)[0]] * n  # a static shot: the flow is zero and reliable everywhere

    def run(self, engine, *extra: str) -> list[np.ndarray]:
        config = load_config(None, [*FAST, "video.seeded_steps=0", *extra])
        return [to_uint8(frame) for _, frame in dream_frames(self.still(), engine, config, fps=1)]

    def test_zoom_moves_the_carried_dream(self, engine):
        from dreamvid.feedback import frame_matrix, warp_affine

        out = self.run(engine, "zoom.zoom=1.5", "zoom.rotate=10")
        source = self.still()[0].astype(np.float32) / 255
        matrix = frame_matrix((96, 64), fps=1, zoom_per_second=1.5, degrees_per_second=10)
        detail = warp_affine(out[0].astype(np.float32) / 255 - source, matrix)
        expected = np.clip(source + detail, 0, 1) * 255
        assert np.abs(out[1] - expected).mean() < 1.0  # steps = 0: frame 1 is the seed itself
        unmoved = np.clip(out[0].astype(np.float32), 0, 255)
        assert np.abs(out[1] - unmoved).mean() > 4 * np.abs(out[1] - expected).mean()

    def test_identity_changes_nothing(self, engine):
        assert all(np.array_equal(a, b) for a, b in zip(self.run(engine), self.run(engine, "zoom.zoom='0:1, 9:1'")))

    def test_full_feedback_is_the_moved_previous_frame(self, engine):
        from dreamvid.feedback import frame_matrix, warp_affine

        out = self.run(engine, "zoom.zoom=1.5", "zoom.feedback=1.0", "zoom.colour=0.0")
        matrix = frame_matrix((96, 64), fps=1, zoom_per_second=1.5)
        expected = np.clip(warp_affine(out[0].astype(np.float32), matrix), 0, 255)
        assert np.abs(out[1] - expected).mean() < 1.0

    def test_coherence_none_cannot_move(self, tmp_path):
        clip = make_clip(tmp_path / "in.mp4", pan(2))
        out = tmp_path / "out.mp4"
        result = runner.invoke(cli.app, ["video", str(clip), "-o", str(out), "--coherence", "none",
                                         "--set", "zoom.rotate=20"])
        assert result.exit_code == 1 and "video.coherence = 'none' carries nothing" in result.output
        assert not out.exists()

    def test_schedules_in_the_video_command(self, tmp_path):
        clip = make_clip(tmp_path / "in.mp4", pan(4))
        out = tmp_path / "frames"
        result = runner.invoke(cli.app, ["video", str(clip), "-o", str(out), *sum((["--set", s] for s in FAST), []),
                                         "--set", "zoom.rotate='0:0, 3:30'", "--set", "dream.objective='0:b8, 2:b12'",
                                         "--set", "video.seeded_steps='0:1, 3:3'"])
        assert result.exit_code == 0, result.output
        assert len(list(read_frames(out))) == 4


class TestVideoCommand:
    def test_renders_with_audio_preview_and_settings(self, tmp_path):
        clip = make_clip(tmp_path / "in.mp4", pan(5), audio=True)
        out, sheet = tmp_path / "out.mp4", tmp_path / "sheet.png"
        result = runner.invoke(cli.app, ["video", str(clip), "-o", str(out), "--preview", str(sheet),
                                         *sum((["--set", s] for s in FAST), [])])
        assert result.exit_code == 0, result.output
        info = probe(out)
        assert info.frames == 5 and info.fps == 10 and info.has_audio
        assert (info.width, info.height) == (96, 64)
        assert read_image(sheet).shape[2] == 3
        saved = json.loads(pipeline.sidecar_path(out).read_text())
        assert saved["video"]["coherence"] == "flow" and saved["run_info"]["frames"] == 5

    def test_frames_width_and_coherence_flag(self, tmp_path, monkeypatch):
        seen = {}
        real = programs.CoherenceProgram

        def spy(dreamer, coherence, scene_cuts):
            seen["coherence"] = coherence
            return real(dreamer, coherence, scene_cuts)

        monkeypatch.setattr(programs, "CoherenceProgram", spy)  # what VideoRecipe.build makes
        clip = make_clip(tmp_path / "in.mp4", pan(6))
        out = tmp_path / "out.gif"
        result = runner.invoke(cli.app, ["video", str(clip), "-o", str(out), "--frames", "3", "--width", "48",
                                         "--coherence", "none", *sum((["--set", s] for s in FAST), [])])
        assert result.exit_code == 0, result.output
        frames = list(read_frames(out))
        assert len(frames) == 3 and frames[0].shape == (32, 48, 3)
        assert seen["coherence"] == "none"

    def test_output_frame_t_is_input_frame_t(self, tmp_path):
        # zero steps: the "dream" is the input itself, so any lag or duplicated frame shows
        frames = [np.full((32, 48, 3), 20 * i + 10, np.uint8) for i in range(5)]
        clip = make_clip(tmp_path / "in.mp4", frames)
        out = tmp_path / "frames"
        result = runner.invoke(cli.app, ["video", str(clip), "-o", str(out), "--set", "dream.steps=0",
                                         "--set", "video.seeded_steps=0", "--coherence", "none"])
        assert result.exit_code == 0, result.output
        levels = [int(round(f.mean())) for f in read_frames(out)]
        assert levels == pytest.approx([20 * i + 10 for i in range(5)], abs=2)

    @pytest.mark.parametrize("name, content, message", [
        ("missing.mp4", None, "not found"),
        ("empty.mp4", b"", "empty"),
        ("text.mp4", b"hello, this is not a video\n", "as a video"),
    ])
    def test_bad_inputs(self, tmp_path, name, content, message):
        src = tmp_path / name
        if content is not None:
            src.write_bytes(content)
        out = tmp_path / "out.mp4"
        result = runner.invoke(cli.app, ["video", str(src), "-o", str(out)])
        assert result.exit_code == 1 and message in result.output.lower()
        assert "Traceback" not in result.output and not out.exists()

    def test_unknown_output_extension(self, tmp_path):
        clip = make_clip(tmp_path / "in.mp4", pan(2))
        out = tmp_path / "out.xyz"
        result = runner.invoke(cli.app, ["video", str(clip), "-o", str(out)])
        assert result.exit_code == 1 and ".xyz" in result.output and not out.exists()

    def test_bad_coherence(self, tmp_path):
        clip = make_clip(tmp_path / "in.mp4", pan(2))
        result = runner.invoke(cli.app, ["video", str(clip), "-o", str(tmp_path / "o.mp4"), "--coherence", "magic"])
        assert result.exit_code == 1 and "video.coherence must be one of" in result.output


class TestMetricsCommand:
    def test_prints_the_figures(self, tmp_path):
        frames = pan(4)
        clip = make_clip(tmp_path / "in.mp4", frames)
        result = runner.invoke(cli.app, ["metrics", str(clip), str(clip)])
        assert result.exit_code == 0, result.output
        assert "hallucination flicker" in result.output and "E_warp" in result.output
        strength = float(next(l for l in result.output.splitlines() if l.startswith("dream strength")).split()[2])
        assert strength == 0.0

    def test_size_mismatch(self, tmp_path):
        a = make_clip(tmp_path / "a.mp4", pan(3))
        b = make_clip(tmp_path / "b.mp4", pan(3, width=64, height=48))
        result = runner.invoke(cli.app, ["metrics", str(a), str(b)])
        assert result.exit_code == 1 and "but input is" in result.output


class TestFlickerLevers:
    """The ``[video]`` flicker levers reach the seeded frames (their effect on flicker: scripts/bench_video.py)."""

    def test_each_lever_changes_the_seeded_frames_and_not_the_first(self, engine):
        frames = pan(3, dx=5)
        plain, _ = run_frames(frames, engine, "flow")
        for lever in ("video.unreliable_carry=1", "video.reliable_step=0.5", 'video.warp="cubic"'):
            out, _ = run_frames(frames, engine, "flow", lever)
            assert np.array_equal(out[0], plain[0]), lever  # the cold first frame has nothing carried
            assert not np.array_equal(out[2], plain[2]), lever

    def test_keeping_the_unreliable_detail_keeps_more_of_the_dream(self, engine):
        """A fast pan leaves many pixels unreliable; keeping their carried detail (and not boosting their steps)
        leaves more of the dream in the seeded frame than dropping it does."""
        frames = pan(3, dx=9)
        source = frames[2].astype(np.float32) / 255
        dropped, _ = run_frames(frames, engine, "flow", "video.fresh_boost=0")
        kept, _ = run_frames(frames, engine, "flow", "video.fresh_boost=0", "video.unreliable_carry=1")
        strength = [float(np.abs(out[2].astype(np.float32) / 255 - source).mean()) for out in (dropped, kept)]
        assert strength[1] > strength[0]
