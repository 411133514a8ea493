"""The command line: argument handling with the core patched, then real runs and every bad-input path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dreamvid import cli, pipeline
from dreamvid.config import Config
from dreamvid.images import read_image, write_image

runner = CliRunner()


def run(*args: str):
    return runner.invoke(cli.app, [str(a) for a in args])


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    """A small real photograph (scikit-image's chelsea, downscaled)."""
    from skimage import data

    path = tmp_path / "cat.png"
    write_image(path, np.ascontiguousarray(data.chelsea()[::6, ::6]))
    return path


@pytest.fixture()
def fake_dream(monkeypatch):
    """Patch the pipeline and record what the CLI passes to it."""
    calls = []

    def fake(config, output, *, input=None, noise_size=None, progress=None):
        calls.append({"config": config, "output": Path(output), "input": input, "noise_size": noise_size})
        progress(1, 2)
        progress(2, 2)
        return Path(output)

    monkeypatch.setattr(pipeline, "dream_image", fake)
    return calls


class TestArguments:
    def test_defaults(self, fake_dream, photo, tmp_path):
        result = run("image", photo, "-o", tmp_path / "out.png")
        assert result.exit_code == 0, result.output
        (call,) = fake_dream
        assert call["config"] == Config()
        assert call["input"] == photo and call["noise_size"] is None
        assert call["output"] == tmp_path / "out.png"

    def test_precedence_preset_set_flags(self, fake_dream, photo, tmp_path):
        result = run("image", photo, "-o", tmp_path / "o.png", "--preset", "classic",
                     "--set", "dream.steps=3", "--set", "dream.objective=b4", "--objective", "b12:7",
                     "--seed", "5", "--device", "cpu", "--model", "efficientnet-lite0")
        assert result.exit_code == 0, result.output
        config = fake_dream[0]["config"]
        assert config.dream.step_size == 0.012  # from the preset
        assert config.dream.steps == 3  # --set beats the preset
        assert config.dream.objective == "b12:7"  # the flag beats --set
        assert (config.run.seed, config.run.device) == (5, "cpu")

    def test_weights_flag(self, fake_dream, photo, tmp_path):
        run("image", photo, "-o", tmp_path / "o.png", "--weights", tmp_path / "my weights.pth")
        assert fake_dream[0]["config"].model.weights == str(tmp_path / "my weights.pth")

    def test_from_noise(self, fake_dream, tmp_path):
        result = run("image", "--from-noise", "96x64", "-o", tmp_path / "n.png", "--preset", "from-noise")
        assert result.exit_code == 0, result.output
        assert fake_dream[0]["noise_size"] == (96, 64) and fake_dream[0]["input"] is None
        assert fake_dream[0]["config"].dream.objective == "class:banana"

    @pytest.mark.parametrize("args", [[], ["IN", "--from-noise", "8x8"]])
    def test_input_xor_noise(self, fake_dream, photo, tmp_path, args):
        args = [photo if a == "IN" else a for a in args]
        result = run("image", *args, "-o", tmp_path / "o.png")
        assert result.exit_code == 1
        assert "give an input picture or --from-noise" in result.output
        assert fake_dream == []


def assert_clean_failure(result, output: Path, message: str) -> None:
    """Exit 1, one line naming the problem, no traceback, nothing at the output path."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and message in lines[-1], result.output
    assert "Traceback" not in result.output
    assert not output.exists() and not pipeline.sidecar_path(output).exists()


class TestBadInput:
    def test_missing_file(self, tmp_path):
        out = tmp_path / "o.png"
        assert_clean_failure(run("image", tmp_path / "nope.jpg", "-o", out), out, "input file not found")

    def test_not_an_image(self, tmp_path):
        bad = tmp_path / "notes.png"
        bad.write_text("hello")
        out = tmp_path / "o.png"
        assert_clean_failure(run("image", bad, "-o", out), out, "as an image")

    def test_unknown_model(self, photo, tmp_path):
        out = tmp_path / "o.png"
        assert_clean_failure(run("image", photo, "-o", out, "--model", "googlenett"), out, "unknown model 'googlenett'")

    def test_unknown_layer(self, photo, tmp_path):
        out = tmp_path / "o.png"
        assert_clean_failure(run("image", photo, "-o", out, "--objective", "b99"), out, "unknown layer 'b99'")

    def test_unknown_class(self, photo, tmp_path):
        out = tmp_path / "o.png"
        assert_clean_failure(run("image", photo, "-o", out, "--objective", "class:bananna"), out, "did you mean 'banana'")

    def test_malformed_objective(self, photo, tmp_path):
        out = tmp_path / "o.png"
        assert_clean_failure(run("image", photo, "-o", out, "--objective", "b4+"), out, "ends with '+'")

    def test_out_of_range_value(self, photo, tmp_path):
        out = tmp_path / "o.png"
        result = run("image", photo, "-o", out, "--set", "dream.octaves=0")
        assert_clean_failure(result, out, "dream.octaves must be an integer from 1 to 12, got 0")

    def test_unknown_key(self, photo, tmp_path):
        out = tmp_path / "o.png"
        result = run("image", photo, "-o", out, "--set", "dream.octave=3")
        assert_clean_failure(result, out, "did you mean 'dream.octaves'")

    def test_unknown_preset(self, photo, tmp_path):
        out = tmp_path / "o.png"
        assert_clean_failure(run("image", photo, "-o", out, "--preset", "nope"), out, "unknown preset 'nope'")

    def test_output_directory_missing(self, photo, tmp_path):
        out = tmp_path / "missing" / "o.png"
        assert_clean_failure(run("image", photo, "-o", out), out, "output directory does not exist")

    def test_unwritable_output(self, photo, tmp_path, monkeypatch):
        import os

        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == tmp_path else real_access(p, mode, **kw))
        out = tmp_path / "o.png"
        assert_clean_failure(run("image", photo, "-o", out), out, "cannot write")

    def test_unknown_output_format(self, photo, tmp_path):
        out = tmp_path / "o.gif"
        assert_clean_failure(run("image", photo, "-o", out), out, "unknown output format '.gif'")

    def test_output_is_input(self, photo):
        before = photo.read_bytes()
        result = run("image", photo, "-o", photo)
        assert result.exit_code == 1 and "is the same as the input" in result.output
        assert photo.read_bytes() == before

    def test_bad_noise_size(self, tmp_path):
        out = tmp_path / "o.png"
        assert_clean_failure(run("image", "--from-noise", "12", "-o", out), out, "expected a size like 640x360")

    def test_weights_absent_offline(self, photo, tmp_path, monkeypatch):
        monkeypatch.setenv("DREAMVID_OFFLINE", "1")
        monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
        out = tmp_path / "o.png"
        assert_clean_failure(run("image", photo, "-o", out, "--model", "googlenet"), out, "--weights FILE")

    def test_debug_shows_the_exception(self, tmp_path):
        result = run("image", tmp_path / "nope.jpg", "-o", tmp_path / "o.png", "--debug")
        assert result.exit_code != 0
        assert type(result.exception).__name__ == "InputError"


class TestRealRuns:
    def test_dreams_a_photo(self, photo, tmp_path):
        out = tmp_path / "dream.png"
        result = run("image", photo, "-o", out, "--set", "dream.steps=2", "--set", "dream.octaves=2", "--seed", "3")
        assert result.exit_code == 0, result.output
        before, after = read_image(photo), read_image(out)
        assert after.shape == before.shape
        assert np.abs(after.astype(int) - before.astype(int)).mean() > 3
        saved = json.loads(pipeline.sidecar_path(out).read_text())
        assert saved["dream"]["steps"] == 2 and saved["run"]["seed"] == 3
        assert saved["run_info"]["input"] == str(photo)

    def test_same_seed_same_file(self, photo, tmp_path):
        args = ["--set", "dream.steps=2", "--set", "dream.octaves=1", "--seed", "9"]
        run("image", photo, "-o", tmp_path / "a.png", *args)
        run("image", photo, "-o", tmp_path / "b.png", *args)
        assert np.array_equal(read_image(tmp_path / "a.png"), read_image(tmp_path / "b.png"))

    def test_from_noise_webp(self, tmp_path):
        out = tmp_path / "noise.webp"
        result = run("image", "--from-noise", "80x64", "-o", out, "--objective", "class:banana",
                     "--set", "dream.steps=2", "--set", "dream.octaves=1")
        assert result.exit_code == 0, result.output
        assert read_image(out).shape == (64, 80, 3)

    def test_guide_objective(self, photo, tmp_path):
        from skimage import data

        guide = tmp_path / "guide.png"
        write_image(guide, np.ascontiguousarray(data.coffee()[::8, ::8]))
        out = tmp_path / "guided.jpg"
        result = run("image", photo, "-o", out, "--objective", f"guide:{guide}",
                     "--set", "dream.steps=2", "--set", "dream.octaves=1")
        assert result.exit_code == 0, result.output
        assert out.exists()


class TestListings:
    def test_layers(self):
        result = run("layers")
        assert result.exit_code == 0
        lines = result.output.splitlines()
        b10 = next(line for line in lines if line.startswith("b10 "))
        assert b10.split()[1] == "112" and "recommended" in b10

    def test_layers_other_model(self):
        result = run("layers", "--model", "googlenet")
        assert result.exit_code == 0 and "inception4c" in result.output and "512" in result.output

    def test_layers_unknown_model(self):
        result = run("layers", "--model", "nope")
        assert result.exit_code == 1 and "unknown model 'nope'" in result.output

    def test_models(self):
        result = run("models")
        assert result.exit_code == 0
        assert "efficientnet-lite0" in result.output and "(default)" in result.output and "googlenet" in result.output

    def test_presets(self):
        result = run("presets")
        assert result.exit_code == 0
        names = [line.split()[0] for line in result.output.splitlines() if line.strip()]
        assert {"classic", "subtle", "textures", "from-noise"} <= set(names)

    def test_version(self):
        result = run("--version")
        assert result.exit_code == 0 and result.output.startswith("dreamvid ")
