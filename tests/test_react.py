"""Audio reactions: parsing, per-frame settings on top of schedules, and music-video renders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from dreamvid import cli
from dreamvid.audio import NAMES, Envelopes
from dreamvid.config import load_config
from dreamvid.errors import ConfigError
from dreamvid.react import parse_reaction as parse_with_targets
from dreamvid.settings import SCHEDULABLE
from dreamvid.timeline import Timeline
from dreamvid.video import probe, read_frames

from test_audio import CLICKS, click_track, write_wav  # noqa: I001 (tests/ is on the path)

runner = CliRunner()


def parse_reaction(text: str):
    return parse_with_targets(text, targets=SCHEDULABLE)


def envelopes(**values: list[float]) -> Envelopes:
    frames = len(next(iter(values.values())))
    full = {name: np.asarray(values.get(name, [0.0] * frames), np.float32) for name in NAMES}
    return Envelopes(30.0, full)


class TestParse:
    @pytest.mark.parametrize("text, table, key, op", [
        ("step_size += 0.6 * onset", "dream", "step_size", "+="),
        ("zoom *= 1 + 0.02 * low", "zoom", "zoom", "*="),
        ("rotate += 3 * beat", "zoom", "rotate", "+="),
        ("video.blend -= 0.2*high", "video", "blend", "-="),
        ("dream.steps = 2 + 6 * rms ** 2", "dream", "steps", "="),
        ("seeded_steps += (onset + beat) / 2", "video", "seeded_steps", "+="),
    ])
    def test_valid(self, text, table, key, op):
        r = parse_reaction(text)
        assert (r.table, r.key, r.op) == (table, key, op)

    @pytest.mark.parametrize("text, message", [
        ("step_size 0.6 * onset", "malformed reaction"),
        ("step_size += 0.6 *", "malformed expression"),
        ("step_size += 0.6 * bass", "unknown envelope 'bass'"),
        ("step_size += 0.6 * onsets", "did you mean 'onset'?"),
        ("stepsize += onset", "did you mean 'step_size'?"),
        ("objective = onset", "not a number that takes schedules"),
        ("dream.lapnorm += onset", "not a number that takes schedules"),
        ("zoom *= abs(low)", "may only use numbers, envelopes"),
        ("zoom *= low.real", "may only use numbers, envelopes"),
        ("zoom *= 'x'", "may only use numbers and envelopes"),
        ("zoom *= low // 2", "operator other than"),
    ])
    def test_invalid(self, text, message):
        with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("?", r"\?")):
            parse_reaction(text)

    @pytest.mark.parametrize("text, part", [
        ("step_size += 1/0", "1 / 0"),
        ("step_size += onset * (2 - 2) ** -1", "(2 - 2) ** (-1)"),
        ("step_size += 10.0**400", "10.0 ** 400"),
        ("step_size += 2**2**2**2**2", "2 ** 2 ** 2 ** 2 ** 2"),
        ("step_size += 1e400 * low", "1e309"),
        ("step_size += " + "9" * 400 + " * low", "999"),
    ])
    def test_constant_part_that_is_not_finite(self, text, part):
        with pytest.raises(ConfigError, match="is not a finite number"):
            parse_reaction(text)
        with pytest.raises(ConfigError) as info:
            parse_reaction(text)
        assert part in str(info.value)

    @pytest.mark.parametrize("text, message", [
        ("step_size += " + "-" * 60 + "onset", "nests more than 50"),
        ("step_size += " + "1+" * 600 + "1", "keep it under 1000"),
        ("step_size += " + "1" * 5000, "keep it under 1000"),
    ])
    def test_too_deep_or_too_long(self, text, message):
        with pytest.raises(ConfigError, match=message):
            parse_reaction(text)

    def test_evaluated_in_float64_without_raising(self):
        reaction = parse_reaction("step_size += 1e300 * low ** 4")
        with pytest.raises(ConfigError, match="not a finite number at frame 1"):
            reaction.values(envelopes(low=[0, 1e3]))
        assert list(parse_reaction("step_size += 2 ** (onset * 3)").values(envelopes(onset=[0, 1]))) == [1, 8]

    def test_checked_when_the_config_loads(self):
        with pytest.raises(ConfigError, match="unknown envelope 'kick'"):
            load_config(None, ['audio.react=["zoom *= 1 + kick"]'])
        with pytest.raises(ConfigError, match="audio.react must be a list of strings"):
            load_config(None, ["audio.react=3"])


class TestTimeline:
    def test_pulses_add_to_the_schedule(self):
        config = load_config(None, ["dream.step_size='0:0.01, 4:0.02'", 'audio.react=["step_size += 0.1 * onset"]'])
        timeline = Timeline(config, envelopes(onset=[0, 1, 0.5, 0, 0]))
        got = [timeline.at(k).dream.step_size for k in range(5)]
        assert got == pytest.approx([0.01, 0.0125 + 0.1, 0.015 + 0.05, 0.0175, 0.02])

    def test_multiply_chain_and_rounding(self):
        config = load_config(None, ["zoom.zoom=1.2", "video.seeded_steps=3",
                                    'audio.react=["zoom *= 1 + low", "zoom *= 2", "seeded_steps += 2.4 * beat"]'])
        timeline = Timeline(config, envelopes(low=[0, 0.5], beat=[0, 1]))
        assert timeline.at(0).zoom.zoom == pytest.approx(2.4) and timeline.at(1).zoom.zoom == pytest.approx(3.6)
        assert timeline.at(0).video.seeded_steps == 3 and timeline.at(1).video.seeded_steps == 5

    def test_set_replaces_and_last_frame_holds(self):
        config = load_config(None, ['audio.react=["dream.steps = 2 + 6 * rms"]'])
        timeline = Timeline(config, envelopes(rms=[0, 1]))
        assert [timeline.at(k).dream.steps for k in (0, 1, 7)] == [2, 8, 8]

    def test_out_of_range_names_the_frame(self):
        config = load_config(None, ['audio.react=["step_size += 2 * onset"]'])
        timeline = Timeline(config, envelopes(onset=[0, 0, 0.9]))
        with pytest.raises(ConfigError, match="dream.step_size must be .* got 1.81 at frame 2, from audio.react"):
            timeline.check(3)

    def test_needs_a_soundtrack(self):
        with pytest.raises(ConfigError, match="audio.react needs a soundtrack"):
            Timeline(load_config(None, ['audio.react=["zoom *= 1 + low"]']))

    def test_division_by_zero(self):
        config = load_config(None, ['audio.react=["zoom *= 1 + 1 / low"]'])
        with pytest.raises(ConfigError, match="not a finite number at frame 0"):
            Timeline(config, envelopes(low=[0, 1]))

    def test_without_reactions_it_is_the_schedule(self):
        config = load_config("spiral-zoom")
        timeline = Timeline(config)
        assert all(timeline.config_at(k) == config.at(k) for k in (0, 45, 90, 300))


FAST = ["--set", "dream.octaves=1", "--set", "dream.steps=1", "--set", "video.seeded_octaves=1",
        "--set", "video.seeded_steps=1"]


class TestMusicVideo:
    def test_zoom_is_as_long_as_the_song_and_carries_it(self, tmp_path):
        song = write_wav(tmp_path / "song.wav", click_track(CLICKS[:4], 2.0))
        out = tmp_path / "clip.mp4"
        result = runner.invoke(cli.app, ["zoom", "-o", str(out), "--size", "48x32", "--fps", "12", "--audio", str(song),
                                         "--preset", "music-video", *FAST])
        assert result.exit_code == 0, result.output
        info = probe(out)
        assert info.frames == 24 and info.has_audio  # 2.0 s at 12 fps
        saved = json.loads((tmp_path / "clip.mp4.json").read_text())
        assert saved["audio"]["react"] and saved["run_info"]["audio"] == str(song)

    def test_duration_and_react_flag(self, tmp_path):
        song = write_wav(tmp_path / "song.wav", click_track(CLICKS, 9.0))
        out = tmp_path / "frames"
        result = runner.invoke(cli.app, ["zoom", "-o", str(out), "--size", "32x32", "--fps", "10", "--audio", str(song),
                                         "--start", "1", "--duration", "1.5", "--react", "rotate += 90 * beat", *FAST])
        assert result.exit_code == 0, result.output
        assert len(list(read_frames(out))) == 15
        saved = json.loads((tmp_path / "frames.json").read_text())
        assert saved["audio"]["react"] == ["rotate += 90 * beat"]

    def test_beats_move_the_picture(self, tmp_path):
        """No dreaming, only the reaction: the picture turns on the clicks and holds still between them."""
        from skimage import data

        from dreamvid.images import write_image

        picture = tmp_path / "cat.png"
        write_image(picture, np.ascontiguousarray(data.chelsea()[::8, ::8]))
        song = write_wav(tmp_path / "song.wav", click_track(np.array([0.5, 1.5]), 2.0))
        out = tmp_path / "frames"
        result = runner.invoke(cli.app, [
            "zoom", str(picture), "-o", str(out), "--fps", "20", "--audio", str(song), "--zoom", "1",
            "--set", "audio.react=['rotate += 200 * onset']", "--set", "audio.release=0.05", "--set", "zoom.colour=0",
            "--set", "dream.steps=0", "--set", "video.seeded_steps=0"])
        assert result.exit_code == 0, result.output
        frames = [f.astype(float) for f in read_frames(out)]
        change = np.array([np.abs(frames[k] - frames[k - 1]).mean() for k in range(1, len(frames))])
        # frame k changes from k-1 when the onset envelope is up: around frames 10 and 30 (0.5 s, 1.5 s)
        assert change[8:13].max() > 10 * change[15:25].max() + 1
        assert change[28:33].max() > 10 * change[15:25].max() + 1

    def test_react_without_a_song(self, tmp_path):
        out = tmp_path / "z.mp4"
        result = runner.invoke(cli.app, ["zoom", "-o", str(out), "--size", "32x32", "--react", "zoom *= 1 + low"])
        assert result.exit_code == 1 and "audio.react needs a soundtrack" in result.output
        assert not out.exists()

    def test_bad_reaction_on_the_command_line(self, tmp_path):
        song = write_wav(tmp_path / "song.wav", click_track(CLICKS[:2], 1.0))
        out = tmp_path / "z.mp4"
        result = runner.invoke(cli.app, ["zoom", "-o", str(out), "--audio", str(song), "--react", "zom *= 1 + low"])
        assert result.exit_code == 1 and "did you mean 'zoom'?" in result.output and "Traceback" not in result.output
        assert not out.exists()

    def test_song_without_sound(self, tmp_path):
        from dreamvid.images import write_image

        still = tmp_path / "x.png"
        write_image(still, np.zeros((8, 8, 3), np.uint8))
        out = tmp_path / "z.mp4"
        result = runner.invoke(cli.app, ["zoom", "-o", str(out), "--size", "32x32", "--audio", str(still)])
        assert result.exit_code == 1 and "has no audio stream" in result.output
        assert not out.exists()

    def test_video_reacts_to_its_own_soundtrack(self, tmp_path):
        from test_pipeline_video import make_clip, pan

        clip = make_clip(tmp_path / "in.mp4", pan(6), audio=True)
        out = tmp_path / "out.mp4"
        result = runner.invoke(cli.app, ["video", str(clip), "-o", str(out), "--react", "step_size += 0.01 * rms", *FAST])
        assert result.exit_code == 0, result.output
        assert probe(out).frames == 6 and probe(out).has_audio

    def test_video_without_sound_cannot_react(self, tmp_path):
        from test_pipeline_video import make_clip, pan

        clip = make_clip(tmp_path / "in.mp4", pan(3))
        out = tmp_path / "out.mp4"
        result = runner.invoke(cli.app, ["video", str(clip), "-o", str(out), "--react", "step_size += 0.01 * rms"])
        assert result.exit_code == 1 and "has no sound; pass --audio FILE" in result.output
        assert not out.exists()

    def test_video_with_another_soundtrack(self, tmp_path):
        from test_pipeline_video import make_clip, pan

        clip = make_clip(tmp_path / "in.mp4", pan(5))
        song = write_wav(tmp_path / "song.wav", click_track(CLICKS[:2], 1.0))
        out = tmp_path / "out.mp4"
        result = runner.invoke(cli.app, ["video", str(clip), "-o", str(out), "--audio", str(song),
                                         "--react", "zoom *= 1 + beat", *FAST])
        assert result.exit_code == 0, result.output
        assert probe(out).has_audio
