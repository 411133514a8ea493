"""Run configuration, resolved once: defaults < preset < ``--set`` overrides → frozen :class:`Config`.

``(preset name or path, ["table.key=value", ...]) → Config``. The tables themselves (one frozen dataclass
each: :class:`DreamConfig`, :class:`RunConfig`, ...) and their validation live in :mod:`dreamvid.settings`
and are re-exported here; this module merges their sources: presets, ``--set`` overrides, JSON sidecars.
An unknown table or key, or a malformed file, raises :class:`~dreamvid.errors.ConfigError` with one line
naming the source and, where one is close, the valid name meant.

A preset is a TOML file in :func:`presets_dir` (or any path ending in ``.toml``) holding the tables above
and, optionally, one top-level string ``description``.

Example:
    >>> config = load_config("classic", ["dream.steps=20", "run.device=cpu"])
    >>> config.dream.objective, config.dream.steps, config.run.device
    ('b10', 20, 'cpu')
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from dreamvid.checks import quoted, show, typed
from dreamvid.errors import ConfigError, OutputError
from dreamvid.settings import (
    AudioConfig,
    Config,
    DreamConfig,
    FrameSettings,
    ModelConfig,
    RunConfig,
    ScaleConfig,
    VideoConfig,
    VrConfig,
    ZoomConfig,
    tables as table_types,
)

__all__ = [
    "AudioConfig",
    "Config",
    "DreamConfig",
    "FrameSettings",
    "ModelConfig",
    "PresetInfo",
    "RunConfig",
    "ScaleConfig",
    "VideoConfig",
    "VrConfig",
    "ZoomConfig",
    "config_from_dict",
    "config_to_dict",
    "list_presets",
    "load_config",
    "parse_override",
    "presets_dir",
    "resolve_preset",
    "save_config_json",
]


@dataclass(frozen=True)
class PresetInfo:
    """A preset file and its one-line description, as listed by :func:`list_presets`."""

    name: str
    path: Path
    description: str


# ------------------------------------------------------------------------------------ merging sources


def _closest(word: str, candidates: Sequence[str]) -> str | None:
    """The candidate closest to ``word`` (difflib), or ``None`` when none is close."""
    matches = difflib.get_close_matches(word, candidates, n=1)
    return matches[0] if matches else None


def _suggest_key(table: str, key: str) -> str | None:
    """A valid ``table.key`` for a wrong one, or ``None``: the same key in another table, else the
    closest key in the same table, else the closest key anywhere. ``table`` is ``""`` outside any table.
    """
    keys = {name: [f.name for f in fields(cls)] for name, cls in table_types().items()}
    elsewhere = [name for name, names in keys.items() if key in names]
    if elsewhere:
        return f"{elsewhere[0]}.{key}"
    for name in [table] if table in keys else list(keys):
        match = _closest(key, keys[name])
        if match is not None:
            return f"{name}.{match}"
    return None


def _hint(suggestion: str | None, fallback: str = "") -> str:
    """``; did you mean 'x'?``, or ``; {fallback}`` without a suggestion (nothing if no fallback)."""
    if suggestion is not None:
        return f"; did you mean {suggestion!r}?"
    return f"; {fallback}" if fallback else ""


def _apply(config: Config, tables: Mapping[str, object], source: str) -> Config:
    """Return ``config`` with the values in ``tables`` replacing its own, every name and value checked."""
    known = table_types()
    changes: dict[str, object] = {}
    for table, values in tables.items():
        if table not in known:
            hint = _hint(_closest(table, list(known)), f"valid tables are {quoted(list(known))}")
            raise ConfigError(f"unknown table {table!r} in {source}{hint}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{table!r} in {source} must be a table [{table}], got {typed(values)}")
        valid = [f.name for f in fields(known[table])]
        for key in values:
            if key not in valid:
                hint = _hint(_suggest_key(table, str(key)), f"valid keys in [{table}] are {quoted(valid)}")
                raise ConfigError(f"unknown key '{table}.{key}' in {source}{hint}")
        try:
            changes[table] = dataclasses.replace(getattr(config, table), **values)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (in {source})") from None
    return dataclasses.replace(config, **changes)


def config_from_dict(data: Mapping[str, object], *, source: str = "config") -> Config:
    """Build a :class:`Config` from ``{table: {key: value}}``; missing keys keep their defaults.

    The inverse of :func:`config_to_dict`. Unknown tables and keys are errors, as in a preset.

    Args:
        data: Tables by name, each a mapping of key to value.
        source: Where ``data`` came from, named in error messages.

    Returns:
        The validated configuration.

    Raises:
        ConfigError: An unknown table or key, or a value out of range or of the wrong type.

    Example:
        >>> config_from_dict({"dream": {"steps": 3}}).dream.steps
        3
    """
    return _apply(Config(), data, source)


def config_to_dict(config: Config) -> dict[str, dict[str, object]]:
    """Return ``{table: {key: value}}`` for ``config``: plain TOML/JSON-friendly values.

    Example:
        >>> config_to_dict(Config())["run"]
        {'seed': 0, 'device': 'auto', 'precision': 'auto', 'max_memory': 2.0, 'threads': 0}
    """
    return {name: {key: list(value) if isinstance(value, tuple) else value
                   for key, value in dataclasses.asdict(getattr(config, name)).items()}
            for name in table_types()}


# ---------------------------------------------------------------------------------------------- presets


def presets_dir() -> Path:
    """Return the folder of shipped presets.

    Inside an installed wheel that is ``dreamvid/presets/``; in a source checkout or editable install it
    is ``presets/`` at the repository root, next to the package.

    Example:
        >>> (presets_dir() / "classic.toml").is_file()
        True
    """
    package = Path(__file__).resolve().parent
    inside = package / "presets"
    return inside if inside.is_dir() else package.parent / "presets"


def resolve_preset(name_or_path: str) -> Path:
    """Return the preset file for a shipped preset's name or a path to a ``.toml`` file.

    Text ending in ``.toml`` or containing a path separator is a path; anything else is a name.

    Args:
        name_or_path: ``"classic"``, or ``"my/preset.toml"``.

    Returns:
        Path to an existing preset file.

    Raises:
        ConfigError: No such file, or no such preset (the message lists the shipped names).

    Example:
        >>> resolve_preset("classic").name
        'classic.toml'
    """
    path = Path(name_or_path)
    if name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path:
        if path.suffix != ".toml":
            raise ConfigError(f"a preset file must end in .toml, got {name_or_path!r}")
        if not path.is_file():
            raise ConfigError(f"preset file not found: {name_or_path}")
        return path
    shipped = presets_dir() / f"{name_or_path}.toml"
    if shipped.is_file():
        return shipped
    names = [p.stem for p in sorted(presets_dir().glob("*.toml"))]
    available = ", ".join(names) or "none"
    hint = _hint(_closest(name_or_path, names))
    raise ConfigError(f"unknown preset {name_or_path!r}; available presets: {available}{hint}")


def list_presets() -> list[PresetInfo]:
    """Return the shipped presets with their descriptions, sorted by name.

    Raises:
        ConfigError: A preset file is unreadable or not valid TOML.

    Example:
        >>> [preset.name for preset in list_presets()][:5]
        ['classic', 'endless-zoom', 'from-noise', 'music-video', 'spiral-zoom']
    """
    infos = []
    for path in presets_dir().glob("*.toml"):
        description, _ = _read_preset(path)
        infos.append(PresetInfo(name=path.stem, path=path, description=description))
    return sorted(infos, key=lambda info: info.name)


def _read_preset(path: Path) -> tuple[str, dict[str, object]]:
    """Return ``(description, tables)`` of a preset file; table contents are checked later."""
    source = f"preset {path.name}"
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {source}: {exc}") from None
    try:
        data = _parse_toml(text, source)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None
    description = data.pop("description", "")
    if not isinstance(description, str) or "\n" in description:
        raise ConfigError(f"description in {source} must be a one-line string, got {typed(description)}")
    for key, value in data.items():
        if not isinstance(value, dict) and key not in table_types():
            hint = _hint(_suggest_key("", key))
            message = f"unknown top-level key {key!r} in {source}; only 'description' may sit outside a table"
            raise ConfigError(message + hint)
    return description, data


MAX_DEPTH = 8
"""Arrays and tables nest at most this deep in a preset or ``--set`` value (settings use two levels)."""


def _parse_toml(text: str, source: str) -> dict[str, object]:
    """``tomllib.loads(text)``, its limits turned into one-line errors: deep nesting, integers of > 4300 digits.

    Raises:
        tomllib.TOMLDecodeError: not valid TOML (the caller words the message).
        ConfigError: valid TOML that nests more than :data:`MAX_DEPTH` levels, or an integer too long to read.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        raise
    except RecursionError:
        raise ConfigError(_too_deep(source)) from None
    except ValueError:  # int(): "Exceeds the limit (4300 digits) for integer string conversion"
        raise ConfigError(f"{source} holds an integer with thousands of digits; give each setting a value in "
                          "its range") from None
    pending: list[tuple[object, int]] = [(data, 0)]
    while pending:  # without recursion, so no depth that tomllib read can overflow the stack here
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(_too_deep(source))
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        pending += [(child, depth + 1) for child in children]
    return data


def _too_deep(source: str) -> str:
    return f"{source} nests arrays or tables more than {MAX_DEPTH} levels deep; no setting nests more than two"


def _brief(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters for a message: a pasted megabyte stays out of the error line."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


# ------------------------------------------------------------------------------------------- overrides

_OVERRIDE = re.compile(r"\s*([\w-]+)\.([\w-]+)\s*=(.*)", re.DOTALL)


def parse_override(text: str) -> tuple[str, str, object]:
    """Parse one ``--set`` override, ``table.key=value``, the value as a TOML value.

    A bare word that is not valid TOML (``b10``, ``cuda:0``, ``0.5*b8+b12``) is taken as a string.
    Only the syntax is checked here; :func:`load_config` checks the names and the value.

    Args:
        text: The override, e.g. ``"dream.steps=20"`` or ``'dream.objective="b10"'``.

    Returns:
        ``(table, key, value)``.

    Raises:
        ConfigError: Not of the form ``table.key=value``, an empty value, or a malformed quoted
            string, array or inline table.

    Example:
        >>> parse_override("dream.steps=20"), parse_override("run.device=cuda:0")
        (('dream', 'steps', 20), ('run', 'device', 'cuda:0'))
    """
    match = _OVERRIDE.fullmatch(text)
    if match is None or "\n" in text or "\r" in text:
        raise ConfigError(f"--set expects table.key=value (e.g. dream.steps=20), got {show(text)}")
    table, key, raw = match[1], match[2], match[3].strip()
    if not raw:
        raise ConfigError(f'--set {text!r} has no value; write {table}.{key}="" for an empty string')
    try:
        return table, key, _parse_toml(f"value = {raw}", f"--set {_brief(text)}")["value"]
    except tomllib.TOMLDecodeError as exc:
        if raw[0] in "\"'[{":
            raise ConfigError(f"--set {_brief(text)}: {_brief(raw)} is not a valid TOML value ({exc})") from None
        return table, key, raw


# ---------------------------------------------------------------------------------------- entry points


def load_config(preset: str | None = None, overrides: Sequence[str] = ()) -> Config:
    """Resolve the configuration: defaults, then the preset, then each override in order.

    Args:
        preset: A shipped preset's name or a path to a ``.toml`` file; ``None`` for the defaults.
        overrides: ``--set`` texts, ``table.key=value``; a later one wins over an earlier one.

    Returns:
        The validated, frozen configuration.

    Raises:
        ConfigError: A missing or malformed preset, a malformed override, an unknown table or key, or
            a value out of range or of the wrong type. The message names the preset file or override.

    Example:
        >>> load_config("subtle", ["dream.steps=8"]).dream.steps
        8
    """
    config = Config()
    if preset is not None:
        path = resolve_preset(preset)
        _, tables = _read_preset(path)
        config = _apply(config, tables, f"preset {path.name}")
    for text in overrides:
        table, key, value = parse_override(text)
        config = _apply(config, {table: {key: value}}, f"--set {_brief(text.strip())}")
    return config


def save_config_json(config: Config, path: Path, *, extra: Mapping[str, object] | None = None) -> None:
    """Write ``config`` as JSON (indent 2), with ``extra`` under a top-level ``"run_info"`` key.

    Values in ``extra`` that JSON cannot hold (such as paths) are written as strings. The tables read back
    with :func:`config_from_dict` once ``"run_info"`` is removed.

    Args:
        config: The configuration to record.
        path: The JSON file to write (its folder must exist).
        extra: Facts about the run, e.g. ``{"input": "in.mp4", "version": "0.1.0"}``.

    Raises:
        OutputError: ``path`` cannot be written.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "config.json"
        >>> save_config_json(Config(), target, extra={"version": "0.1.0"})
        >>> json.loads(target.read_text())["run_info"]
        {'version': '0.1.0'}
    """
    data: dict[str, object] = dict(config_to_dict(config))
    if extra is not None:
        data["run_info"] = dict(extra)
    text = json.dumps(data, indent=2, default=str) + "\n"
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(f"cannot write the config to {path}: {exc.strerror or exc}") from None
