"""Tests for dreamvid.config: precedence, validation, presets, overrides and the JSON record."""

from __future__ import annotations

import dataclasses
import json
import re
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from dreamvid.config import (
    Config,
    DreamConfig,
    ModelConfig,
    PresetInfo,
    RunConfig,
    config_from_dict,
    config_to_dict,
    list_presets,
    load_config,
    parse_override,
    presets_dir,
    resolve_preset,
    save_config_json,
)
from dreamvid.errors import ConfigError, OutputError

SHIPPED = ["classic", "endless-zoom", "from-noise", "music-video", "spiral-zoom", "subtle", "textures", "video", "video-crisp", "video-drift",
           "vr-360"]


def raises_config(message: str) -> AbstractContextManager[pytest.ExceptionInfo[ConfigError]]:
    """Expect a ConfigError whose message contains ``message`` verbatim."""
    return pytest.raises(ConfigError, match=re.escape(message))


def write_preset(tmp_path: Path, text: str, name: str = "mine.toml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------------------------------ precedence


class TestPrecedence:
    def test_defaults(self) -> None:
        config = load_config()
        assert config == Config()
        assert config.model == ModelConfig(name="efficientnet-lite0", weights="")
        assert config.dream == DreamConfig(
            objective="", octaves=4, octave_scale=1.4, steps=10, step_size=0.01, jitter=32, smooth=0.0,
            tv=0.0, scale_jitter=0.0, rotate_jitter=0.0, max_size=0,
        )
        assert config.run == RunConfig(seed=0, device="auto", precision="auto")

    def test_defaults_round_trip_through_dict(self) -> None:
        data = config_to_dict(Config())
        assert list(data) == ["model", "dream", "run", "video", "zoom", "audio", "vr", "scale"]
        assert data["dream"]["octaves"] == 4
        assert config_from_dict(data) == Config()

    def test_preset_overrides_defaults(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, '[dream]\nsteps = 3\nobjective = "b7"\n[run]\nseed = 9\n')
        config = load_config(path)
        assert (config.dream.steps, config.dream.objective, config.run.seed) == (3, "b7", 9)
        assert config.dream.octaves == 4  # not in the preset: the default stays
        assert config.model == ModelConfig()

    def test_set_overrides_preset(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, "[dream]\nsteps = 3\nstep_size = 0.05\n")
        config = load_config(path, ["dream.steps=20"])
        assert config.dream.steps == 20
        assert config.dream.step_size == 0.05  # the preset's value survives

    def test_later_set_wins(self) -> None:
        config = load_config(None, ["dream.steps=20", "run.seed=1", "dream.steps=30"])
        assert (config.dream.steps, config.run.seed) == (30, 1)

    def test_shipped_preset_by_name(self) -> None:
        config = load_config("classic", ["dream.steps=2"])
        assert config.dream.objective == "b10"
        assert config.dream.steps == 2


# ------------------------------------------------------------------------------------------ validation

VALIDATION_ERRORS = [
    # int ranges
    (DreamConfig, {"octaves": 0}, "dream.octaves must be an integer from 1 to 12, got 0"),
    (DreamConfig, {"octaves": 13}, "dream.octaves must be an integer from 1 to 12, got 13"),
    (DreamConfig, {"steps": -1}, "dream.steps must be an integer from 0 to 1000, got -1"),
    (DreamConfig, {"jitter": 513}, "dream.jitter must be an integer from 0 to 512, got 513"),
    (DreamConfig, {"max_size": 16},
     "dream.max_size must be 0 (full size) or an integer from 32 to 16384, got 16"),
    (DreamConfig, {"max_size": 16385}, "dream.max_size must be 0 (full size) or an integer from 32 to 16384"),
    (RunConfig, {"seed": -1}, "run.seed must be an integer from 0 to 18446744073709551615 (below 2^64), got -1"),
    # float ranges, open and closed ends
    (DreamConfig, {"octave_scale": 1.0},
     "dream.octave_scale must be a number greater than 1 and at most 4, got 1.0"),
    (DreamConfig, {"octave_scale": 4.01}, "dream.octave_scale must be a number greater than 1 and at most 4"),
    (DreamConfig, {"step_size": 0}, "dream.step_size must be a number greater than 0 and at most 1, got 0"),
    (DreamConfig, {"step_size": 1.5},
     "dream.step_size must be a number greater than 0 and at most 1, got 1.5"),
    (DreamConfig, {"step_size": float("nan")}, "dream.step_size must be a number greater than 0"),
    (DreamConfig, {"smooth": 20.5}, "dream.smooth must be a number from 0 to 20, got 20.5"),
    (DreamConfig, {"tv": -0.1}, "dream.tv must be a number from 0 to 100, got -0.1"),
    (DreamConfig, {"tv": float("inf")}, "dream.tv must be a number from 0 to 100, got inf"),
    (DreamConfig, {"scale_jitter": 0.6}, "dream.scale_jitter must be a number from 0 to 0.5, got 0.6"),
    (DreamConfig, {"rotate_jitter": -1}, "dream.rotate_jitter must be a number from 0 to 45, got -1"),
    # wrong types
    (DreamConfig, {"octaves": "4"}, "dream.octaves must be an integer from 1 to 12 or a schedule like \"0:1.0, 90:1.3\", got '4' (a string)"),
    (DreamConfig, {"steps": 10.0}, "dream.steps must be an integer from 0 to 1000, got 10.0 (a number)"),
    (DreamConfig, {"step_size": "0.01"},
     "dream.step_size must be a number greater than 0 and at most 1 or a schedule like \"0:1.0, 90:1.3\", got '0.01'"),
    (DreamConfig, {"objective": 10}, "dream.objective must be a string, got 10 (an integer)"),
    (ModelConfig, {"weights": ["a"]}, "model.weights must be a string, got ['a'] (a list)"),
    (ModelConfig, {"name": ""}, "model.name must be a non-empty string, got ''"),
    # bool is not a number
    (DreamConfig, {"octaves": True}, "dream.octaves must be an integer from 1 to 12, got true (a boolean)"),
    (DreamConfig, {"tv": False}, "dream.tv must be a number from 0 to 100, got false (a boolean)"),
    (RunConfig, {"seed": True}, "run.seed must be an integer from 0 to 18446744073709551615 (below 2^64), got true (a boolean)"),
    # devices and precisions
    (RunConfig, {"device": "gpu"}, "run.device must be one of 'auto', 'cpu', 'cuda', 'cuda:N'"),
    (RunConfig, {"device": "cuda:"}, "got 'cuda:'"),
    (RunConfig, {"device": "cuda:x"}, "got 'cuda:x'"),
    (RunConfig, {"device": "CPU"}, "got 'CPU'"),
    (RunConfig, {"device": 0}, "run.device must be a string, got 0 (an integer)"),
    (RunConfig, {"precision": "fp64"},
     "run.precision must be one of 'auto', 'fp32', 'bf16', 'fp16', got 'fp64'"),
]


class TestValidation:
    @pytest.mark.parametrize(("table", "kwargs", "message"), VALIDATION_ERRORS)
    def test_bad_value(self, table: type, kwargs: dict[str, object], message: str) -> None:
        with raises_config(message) as info:
            table(**kwargs)
        assert "\n" not in str(info.value)

    @pytest.mark.parametrize(
        ("table", "kwargs"),
        [
            (DreamConfig, {"octaves": 1, "steps": 0, "jitter": 0, "max_size": 0}),
            (DreamConfig, {"octaves": 12, "steps": 1000, "jitter": 512, "max_size": 16384}),
            (DreamConfig, {"max_size": 32, "octave_scale": 4.0, "step_size": 1.0, "smooth": 20.0}),
            (DreamConfig, {"tv": 100.0, "scale_jitter": 0.5, "rotate_jitter": 45.0}),
            (DreamConfig, {"objective": "0.5*b8+b12"}),
            (RunConfig, {"device": "cuda:3", "precision": "bf16", "seed": 2**40}),
            (RunConfig, {"device": "mps", "precision": "fp16"}),
        ],
    )
    def test_edge_values_accepted(self, table: type, kwargs: dict[str, object]) -> None:
        built = table(**kwargs)
        assert {key: getattr(built, key) for key in kwargs} == kwargs

    def test_int_is_stored_as_float(self) -> None:
        dream = DreamConfig(smooth=1, octave_scale=2, rotate_jitter=10)
        assert (dream.smooth, dream.octave_scale, dream.rotate_jitter) == (1.0, 2.0, 10.0)
        assert all(type(value) is float for value in (dream.smooth, dream.octave_scale, dream.rotate_jitter))

    def test_config_rejects_wrong_table_type(self) -> None:
        with pytest.raises(ConfigError, match=r"config\.dream must be a DreamConfig, got 5 \(an integer\)"):
            Config(dream=5)  # type: ignore[arg-type]

    def test_replace_is_validated(self) -> None:
        with pytest.raises(ConfigError, match=r"dream\.steps must be an integer"):
            dataclasses.replace(DreamConfig(), steps=-5)

    @pytest.mark.parametrize("instance", [Config(), DreamConfig(), ModelConfig(), RunConfig()])
    def test_frozen(self, instance: object) -> None:
        name = dataclasses.fields(instance)[0].name  # type: ignore[arg-type]
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(instance, name, getattr(instance, name))


# ------------------------------------------------------------------------------- preset file contents


class TestPresetFiles:
    def test_unknown_key_suggests_closest(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, "[dream]\noctave = 5\n", name="classic.toml")
        message = "unknown key 'dream.octave' in preset classic.toml; did you mean 'dream.octaves'?"
        with raises_config(message):
            load_config(path)

    def test_key_in_wrong_table_suggests_right_table(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, "[dream]\nseed = 5\n")
        with raises_config("unknown key 'dream.seed' in preset mine.toml; did you mean 'run.seed'?"):
            load_config(path)

    def test_unknown_key_without_close_match_lists_valid_keys(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, "[run]\nzzzzz = 5\n")
        with raises_config("valid keys in [run] are 'seed', 'device', 'precision'"):
            load_config(path)

    def test_unknown_table(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, "[drem]\noctaves = 5\n")
        with raises_config("unknown table 'drem' in preset mine.toml; did you mean 'dream'?"):
            load_config(path)

    def test_unknown_table_without_close_match_lists_tables(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, "[xyzzy]\na = 1\n")
        with raises_config("valid tables are 'model', 'dream', 'run'"):
            load_config(path)

    def test_top_level_key_other_than_description(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, 'description = "x"\noctaves = 5\n')
        with raises_config("unknown top-level key 'octaves' in preset mine.toml; only 'description' may sit"):
            load_config(path)
        with raises_config("outside a table; did you mean 'dream.octaves'?"):
            load_config(path)

    def test_table_name_given_a_value(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, "dream = 5\n")
        with raises_config("'dream' in preset mine.toml must be a table [dream], got 5 (an integer)"):
            load_config(path)

    @pytest.mark.parametrize("value", ["3", '"""two\nlines"""'])
    def test_description_must_be_one_line_string(self, tmp_path: Path, value: str) -> None:
        path = write_preset(tmp_path, f"description = {value}\n")
        with pytest.raises(ConfigError, match="description in preset mine.toml must be a one-line string"):
            load_config(path)

    def test_bad_value_names_the_preset(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, '[dream]\noctaves = "4"\n')
        message = "dream.octaves must be an integer from 1 to 12 or a schedule like \"0:1.0, 90:1.3\", got '4' (a string) (in preset mine.toml)"
        with raises_config(message):
            load_config(path)

    def test_malformed_toml_names_file_and_reason(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, "[dream\nsteps = 3\n", name="broken.toml")
        with pytest.raises(ConfigError, match=r"preset broken\.toml is not valid TOML: .*line 1") as info:
            load_config(path)
        assert "\n" not in str(info.value)

    def test_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "latin.toml"
        path.write_bytes(b'description = "caf\xe9"\n')
        with pytest.raises(ConfigError, match=r"latin\.toml"):
            load_config(str(path))


# ------------------------------------------------------------------------------------------- overrides


class TestOverrides:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("dream.steps=20", ("dream", "steps", 20)),
            ('dream.objective="b10"', ("dream", "objective", "b10")),
            ("dream.objective='b10'", ("dream", "objective", "b10")),
            ("dream.step_size=0.02", ("dream", "step_size", 0.02)),
            ("dream.objective=b10", ("dream", "objective", "b10")),
            ("run.device=cpu", ("run", "device", "cpu")),
            ("run.device=cuda:1", ("run", "device", "cuda:1")),
            ("dream.objective=0.5*b8+b12", ("dream", "objective", "0.5*b8+b12")),
            ("dream.objective=class:banana", ("dream", "objective", "class:banana")),
            ("model.weights=/my dir/w.pt", ("model", "weights", "/my dir/w.pt")),
            ('dream.objective=""', ("dream", "objective", "")),
            (" dream.steps = 20 ", ("dream", "steps", 20)),
            ("run.seed=true", ("run", "seed", True)),  # parsed here, rejected by RunConfig
        ],
    )
    def test_parse(self, text: str, expected: tuple[str, str, object]) -> None:
        parsed = parse_override(text)
        assert parsed == expected
        assert type(parsed[2]) is type(expected[2])

    @pytest.mark.parametrize(
        "text",
        ["steps=20", "dream.steps", "dream=20", ".steps=1", "dream.=1", "a.b.c=1", "dream.steps=1\nx=2", ""],
    )
    def test_malformed(self, text: str) -> None:
        with raises_config("--set expects table.key=value"):
            parse_override(text)

    def test_empty_value(self) -> None:
        with raises_config('write dream.objective="" for an empty string'):
            parse_override("dream.objective=")

    @pytest.mark.parametrize("text", ['dream.objective="b10', "dream.objective=[1,", "dream.objective={a="])
    def test_malformed_toml_value(self, text: str) -> None:
        with pytest.raises(ConfigError, match="is not a valid TOML value"):
            parse_override(text)

    def test_unknown_key_suggests_closest(self) -> None:
        message = "unknown key 'dream.octave' in --set dream.octave=5; did you mean 'dream.octaves'?"
        with raises_config(message):
            load_config(None, ["dream.octave=5"])

    def test_unknown_table(self) -> None:
        with raises_config("unknown table 'drem' in --set drem.steps=5; did you mean 'dream'?"):
            load_config(None, ["drem.steps=5"])

    def test_bad_value_names_the_override(self) -> None:
        message = "dream.steps must be an integer from 0 to 1000, got 1.5 (a number)"
        with raises_config(message + " (in --set dream.steps=1.5)"):
            load_config(None, ["dream.steps=1.5"])

    def test_quoted_number_is_a_string(self) -> None:
        with raises_config("got '20' (a string)"):
            load_config(None, ['dream.steps="20"'])

    def test_int_accepted_for_float(self) -> None:
        config = load_config(None, ["dream.rotate_jitter=10", "dream.step_size=1"])
        assert config.dream.rotate_jitter == 10.0 and type(config.dream.rotate_jitter) is float
        assert config.dream.step_size == 1.0


# --------------------------------------------------------------------------------------------- presets


class TestShippedPresets:
    def test_presets_dir_holds_the_presets(self) -> None:
        assert sorted(path.stem for path in presets_dir().glob("*.toml")) == SHIPPED

    def test_list_presets(self) -> None:
        presets = list_presets()
        assert [preset.name for preset in presets] == SHIPPED
        for preset in presets:
            assert isinstance(preset, PresetInfo)
            assert preset.path == presets_dir() / f"{preset.name}.toml"
            assert preset.description.strip() and "\n" not in preset.description

    @pytest.mark.parametrize("name", SHIPPED)
    def test_every_preset_loads_and_changes_something(self, name: str) -> None:
        config = load_config(name)
        assert config != Config()
        assert config.dream.objective != ""

    def test_resolve_by_name(self) -> None:
        assert resolve_preset("subtle") == presets_dir() / "subtle.toml"

    def test_resolve_by_path(self, tmp_path: Path) -> None:
        path = write_preset(tmp_path, "")
        assert resolve_preset(path) == Path(path)

    def test_unknown_name_lists_available(self) -> None:
        with pytest.raises(ConfigError) as info:
            resolve_preset("nothing-like-it")
        message = str(info.value)
        assert message.startswith("unknown preset 'nothing-like-it'; available presets:")
        assert all(name in message for name in SHIPPED)
        assert "did you mean" not in message

    def test_misspelt_name_suggests_closest(self) -> None:
        with pytest.raises(ConfigError, match=r"did you mean 'classic'\?"):
            load_config("clasic")

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="preset file not found"):
            resolve_preset(str(tmp_path / "absent.toml"))

    def test_path_must_be_toml(self, tmp_path: Path) -> None:
        path = tmp_path / "preset.txt"
        path.write_text("")
        with pytest.raises(ConfigError, match=r"must end in \.toml"):
            resolve_preset(str(path))


# ------------------------------------------------------------------------------------------------ JSON


class TestSaveConfigJson:
    def test_round_trip(self, tmp_path: Path) -> None:
        config = load_config("from-noise", ["run.seed=7", "run.device=cpu"])
        target = tmp_path / "config.json"
        save_config_json(config, target, extra={"input": Path("in.mp4"), "version": "0.1.0"})
        text = target.read_text(encoding="utf-8")
        assert text.startswith('{\n  "model": {')  # indent 2
        data = json.loads(text)
        assert data.pop("run_info") == {"input": "in.mp4", "version": "0.1.0"}
        assert config_from_dict(data, source=str(target)) == config

    def test_without_extra_has_no_run_info(self, tmp_path: Path) -> None:
        target = tmp_path / "config.json"
        save_config_json(Config(), target)
        assert json.loads(target.read_text()) == config_to_dict(Config())

    def test_unwritable(self, tmp_path: Path) -> None:
        with pytest.raises(OutputError, match="cannot write the config"):
            save_config_json(Config(), tmp_path / "missing-dir" / "config.json")

    def test_from_dict_rejects_unknown_table(self) -> None:
        with pytest.raises(ConfigError, match=r"unknown table 'run_info' in saved\.json"):
            config_from_dict({"run_info": {}}, source="saved.json")


class TestSchedules:
    def test_numbers_interpolate_and_ints_round(self) -> None:
        config = load_config(None, ["dream.steps='0:10, 100:20'", "dream.step_size='smooth 0:0.01, 10:0.03'",
                                    "video.blend='0:0.2, 4:0.6'"])
        assert [config.at(f).dream.steps for f in (0, 24, 26, 100, 500)] == [10, 12, 13, 20, 20]
        assert config.at(5).dream.step_size == pytest.approx(0.02)
        assert config.at(2.5).dream.step_size == pytest.approx(0.01 + 0.02 * (0.25 ** 2 * (3 - 0.5)))
        assert config.at(1).video.blend == pytest.approx(0.3)
        assert isinstance(config.at(3).dream.steps, int)

    def test_objective_switches_at_keyframes(self) -> None:
        config = load_config(None, ["dream.objective='0:b8, 120:b12:7,9, 200:class:banana'"])
        assert [config.at(f).dream.objective for f in (0, 119, 120, 199, 200, 999)] == \
            ["b8", "b8", "b12:7,9", "b12:7,9", "class:banana", "class:banana"]

    def test_plain_values_pass_through(self) -> None:
        config = load_config("classic")
        assert config.at(50) == config

    def test_evaluated_config_is_plain(self) -> None:
        config = load_config("endless-zoom", ["zoom.zoom='0:1.0, 30:1.5'", "zoom.rotate='0:0, 30:10'"])
        at = config.at(15)
        assert at.zoom.zoom == pytest.approx(1.25) and at.zoom.rotate == pytest.approx(5.0)
        assert at.at(99) == at  # nothing left to evaluate

    @pytest.mark.parametrize("override, message", [
        ("dream.steps='0:10, 100:2000'", "dream.steps must be an integer from 0 to 1000, got 2000 at frame 100"),
        ("dream.step_size='0:0.01, 50:0'", "dream.step_size must be a number greater than 0 and at most 1, got 0 at frame 50"),
        ("dream.octaves='0:b8, 9:b9'", "dream.octaves must be an integer from 1 to 12, or a schedule of numbers"),
        ("dream.objective='0:1.0, 9:2.0'", "dream.objective must be an objective (or a schedule of objectives"),
        ("zoom.zoom='0:1.0, 10:0'", "zoom.zoom must be a number greater than 0"),
        ("video.blend='0:0.5, 9:x'", "schedule for video.blend mixes numbers and text"),
        ("video.carry='0:0.5, 0:1'", "schedule for video.carry must have increasing frames"),
        ("dream.steps='0:10, 5'", "malformed schedule for dream.steps"),
        ("dream.lapnorm='0:1, 9:2'", "dream.lapnorm must be an integer from 0 to 8, got '0:1, 9:2' (a string)"),
    ])
    def test_bad_schedules(self, override: str, message: str) -> None:
        with raises_config(message):
            load_config(None, [override])


class TestParserLimits:
    """Recursion and huge integers are caught where TOML is parsed; each gives one short line."""

    @pytest.mark.parametrize("value", ["[" * 9 + "1" + "]" * 9, "[" * 2000 + "]" * 2000, "{a=" * 9 + "1" + "}" * 9])
    def test_nesting_deeper_than_the_limit(self, value: str) -> None:
        with raises_config("nests arrays or tables more than 8 levels deep") as info:
            load_config(None, [f"dream.steps={value}"])
        assert len(str(info.value)) < 200

    def test_integer_with_thousands_of_digits_in_a_preset(self, tmp_path: Path) -> None:
        path = tmp_path / "big.toml"
        path.write_text("[run]\nseed = " + "9" * 5000 + "\n", encoding="utf-8")
        with raises_config("preset big.toml holds an integer with thousands of digits"):
            load_config(str(path))

    def test_keyframe_with_too_many_digits(self) -> None:
        with raises_config("frames are below 10^9"):
            load_config(None, ['dream.steps="0:1, ' + "9" * 5000 + ':2"'])

    def test_seed_range(self) -> None:
        assert load_config(None, [f"run.seed={2**64 - 1}"]).run.seed == 2**64 - 1
        with raises_config("run.seed must be an integer from 0 to 18446744073709551615 (below 2^64)"):
            load_config(None, [f"run.seed={2**64}"])
