"""The studio's fields and the configuration: ``preset → field values``, ``field values → Config``, ``Config → TOML``.

Convention:
    - Settings resolve as on the command line, with the page's fields between the preset and the
      advanced box: defaults < preset < fields < advanced ``table.key=value`` lines (``--set`` syntax).
    - A field left empty (``None``; what an API caller who omits it sends) keeps the preset's value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from dreamvid.config import config_to_dict, list_presets, load_config, parse_override
from dreamvid.errors import ConfigError
from dreamvid.models import imagenet_categories, list_layers
from dreamvid.settings import Config
from dreamvid.ui.workspace import check_setting

NUMBERS = {"steps": "dream.steps", "step_size": "dream.step_size", "octaves": "dream.octaves",
           "carry": "video.carry", "zoom": "zoom.zoom", "rotate": "zoom.rotate"}
"""The few numbers people tune, by field name → their setting."""

INTEGERS = frozenset({"steps", "octaves"})


def preset_choices() -> list[tuple[str, str]]:
    """``(label, name)`` of every shipped preset for a dropdown; the label carries its description."""
    return [(f"{info.name} — {info.description}" if info.description else info.name, info.name)
            for info in list_presets()]


def layer_choices(model: str = "efficientnet-lite0") -> list[tuple[str, str]]:
    """``(label, layer)`` of the model's layers, shallow to deep, the recommended one marked.

    Example:
        >>> [label for label, name in layer_choices() if name == "b10"]
        ['b10 · 112 channels · recommended']
    """
    return [(f"{info.name} · {info.channels} channels" + (f" · {info.note}" if info.note else ""), info.name)
            for info in list_layers(model)]


def class_choices() -> list[str]:
    """The ImageNet class names a ``class:NAME`` objective takes, in index order.

    Example:
        >>> names = class_choices()
        >>> len(names), names[954]
        (1000, 'banana')
    """
    return imagenet_categories()


def preset_fields(preset: str, names: Sequence[str]) -> dict[str, object]:
    """The values of fields ``names`` (:data:`NUMBERS`, ``objective``, ``seed``, ``reactions``) in ``preset``;
    a schedule (text such as ``"0:10, 90:20"``) shows as ``None``: the field stays empty and the preset's
    schedule is kept.

    Example:
        >>> preset_fields("subtle", ["steps", "objective"])
        {'steps': 6, 'objective': 'b8'}
    """
    tables = config_to_dict(load_config(preset))
    values: dict[str, object] = {}
    for name in names:
        if name in NUMBERS:
            table, key = NUMBERS[name].split(".")
            value = tables[table][key]
            values[name] = None if isinstance(value, str) else value
        elif name == "objective":
            values[name] = tables["dream"]["objective"]
        elif name == "seed":
            values[name] = tables["run"]["seed"]
        elif name == "reactions":
            values[name] = "\n".join(tables["audio"]["react"])
    return values


def advanced_lines(text: str | None) -> list[str]:
    """The ``table.key=value`` lines of the advanced box (blank lines and ``#`` comments skipped), each
    checked for syntax and refused if the studio may not set it.

    Example:
        >>> advanced_lines("dream.steps=2\\n# a note\\n\\nrun.threads = 1")
        ['dream.steps=2', 'run.threads = 1']
    """
    lines = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            check_setting(*parse_override(line))
            lines.append(line)
    return lines


def build_config(preset: str | None, fields: Mapping[str, object], advanced: str | None = None) -> Config:
    """Resolve the settings: defaults < ``preset`` < ``fields`` < the advanced box.

    ``fields`` holds :data:`NUMBERS` by name, ``objective``, ``seed``, ``reactions`` (lines), ``vr360``
    (bool) and ``stereo``; ``None`` and ``""`` keep the preset's value.

    Raises:
        ConfigError: an unknown preset, a bad value or line (one line naming it).

    Example:
        >>> build_config("classic", {"steps": 3}, "dream.octaves=1").dream.steps
        3
    """
    if preset and preset not in {name for _, name in preset_choices()}:
        raise ConfigError(f"unknown preset {preset!r}; choose one of the list")
    overrides = []
    for name, value in fields.items():
        if value is None or value == "":
            continue
        if name in NUMBERS:
            number = float(value)  # type: ignore[arg-type]
            overrides.append(f"{NUMBERS[name]}={int(number) if name in INTEGERS and number.is_integer() else number}")
        elif name == "objective":
            check_setting("dream", "objective", value)
            overrides.append(f"dream.objective={json.dumps(str(value).strip())}")
        elif name == "seed":
            overrides.append(f"run.seed={int(value)}")  # type: ignore[call-overload]
        elif name == "reactions":
            lines = [line.strip() for line in str(value).splitlines() if line.strip()]
            overrides.append(f"audio.react={json.dumps(lines)}")
        elif name == "vr360" and value:
            overrides.append('vr.projection="equirect"')
        elif name == "stereo":
            overrides.append(f"vr.stereo={json.dumps(str(value))}")
    return load_config(preset or None, [*overrides, *advanced_lines(advanced)])


def preset_toml(config: Config, *, description: str = "Saved from the dreamvid studio") -> str:
    """``config`` as a preset file (what ``--preset FILE.toml`` reads): the settings that differ from the
    defaults, table by table.

    Example:
        >>> print(preset_toml(load_config(None, ["dream.steps=3"]), description="three steps"))
        description = "three steps"
        <BLANKLINE>
        [dream]
        steps = 3
        <BLANKLINE>
    """
    defaults, tables = config_to_dict(Config()), config_to_dict(config)
    lines = [f"description = {json.dumps(description)}", ""]
    for table, values in tables.items():
        changed = {key: value for key, value in values.items() if value != defaults[table][key]}
        if changed:
            lines.append(f"[{table}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in changed.items()]
            lines.append("")
    return "\n".join(lines)


def _toml_value(value: object) -> str:
    """A TOML literal of a setting's value (a JSON string or array of strings is valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value)
