"""The ``dreamvid`` command line: a thin typer layer over :mod:`dreamvid.pipeline`.

Each command resolves its configuration once (defaults < preset < ``--set`` < explicit flags such as
``--model``), hands off to one pipeline function and draws its progress. A :class:`DreamvidError` becomes
one line on stderr and exit status 1 (a traceback only with ``--debug``); Ctrl-C exits with 130.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer

from dreamvid import __version__
from dreamvid.errors import DreamvidError

app = typer.Typer(
    name="dreamvid",
    help="DeepDream for pictures, videos and endless zooms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PresetOpt = Annotated[Optional[str], typer.Option("--preset", "-p", help="Preset name (see 'dreamvid presets') or a .toml path.")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override a setting: table.key=value (TOML value). Repeatable.")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", "-m", help="Network to dream with (see 'dreamvid layers').")]
WeightsOpt = Annotated[Optional[Path], typer.Option("--weights", help="State-dict file to load instead of the model's own weights.")]
ObjectiveOpt = Annotated[Optional[str], typer.Option("--objective", help="What to amplify: b10, b12:7, 0.5*b8+b12, class:banana, guide:pic.jpg.")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="Random seed; the same seed gives the same picture on CPU.")]
DeviceOpt = Annotated[Optional[str], typer.Option("--device", help="auto (CUDA when present), cpu, cuda, cuda:N or mps.")]
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logging.")]


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid TOML basic string


def _overrides(sets: list[str] | None, **flags: str | int | Path | None) -> list[str]:
    """``--set`` values followed by the explicit flags (which therefore win), as ``table.key=value``."""
    keys = {"model": "model.name", "weights": "model.weights", "objective": "dream.objective",
            "seed": "run.seed", "device": "run.device"}
    out = list(sets or [])
    for name, value in flags.items():
        if value is None:
            continue
        out.append(f"{keys[name]}={value}" if isinstance(value, int) else f"{keys[name]}={_toml_string(str(value))}")
    return out


@contextmanager
def _errors(debug: bool) -> Iterator[None]:
    """Turn project errors into one line and exit 1; Ctrl-C into exit 130; tracebacks only with --debug."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        yield
    except DreamvidError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        if debug:
            raise
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


class _Bar:
    """A progress callback that draws a bar on stderr with steps done, rate and ETA."""

    def __init__(self, label: str, unit: str = "steps") -> None:
        self.label, self.unit = label, unit
        self._bar = None
        self._done = 0

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = typer.progressbar(length=total, label=self.label, file=sys.stderr,
                                          show_eta=True, show_percent=True, show_pos=True)
            self._bar.__enter__()
        self._bar.update(done - self._done)
        self._done = done

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@app.command()
def image(
    input: Annotated[Optional[Path], typer.Argument(help="Picture to dream (JPEG, PNG, WebP ...). Omit with --from-noise.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output picture: .jpg, .png or .webp.")] = ...,  # type: ignore[assignment]
    from_noise: Annotated[Optional[str], typer.Option("--from-noise", help="Dream from noise of this size, WxH (e.g. 512x512).")] = None,
    preset: PresetOpt = None,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    objective: ObjectiveOpt = None,
    set_: SetOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Dream a still picture, or paint one from noise.

    Examples: dreamvid image cat.jpg -o cat-dream.png --preset classic;
    dreamvid image --from-noise 512x512 --objective class:banana -o banana.png --preset from-noise
    """
    from dreamvid.config import load_config
    from dreamvid.errors import InputError
    from dreamvid.images import parse_size
    from dreamvid.pipeline import dream_image

    with _errors(debug):
        if (input is None) == (from_noise is None):
            raise InputError("give an input picture or --from-noise WxH (not both)")
        noise_size = parse_size(from_noise) if from_noise is not None else None
        config = load_config(preset, _overrides(set_, model=model, weights=weights, objective=objective,
                                                seed=seed, device=device))
        bar = _Bar("dreaming")
        try:
            out = dream_image(config, output, input=input, noise_size=noise_size, progress=bar)
        finally:
            bar.close()
        typer.echo(f"wrote {out}", err=True)


@app.command()
def layers(
    model: Annotated[str, typer.Option("--model", "-m", help="Model whose layers to list.")] = "efficientnet-lite0",
    debug: DebugOpt = False,
) -> None:
    """List a model's dreamable layers with channel counts (shallow to deep)."""
    from dreamvid.models import MODELS, list_layers

    with _errors(debug):
        infos = list_layers(model)
        typer.echo(f"{model}: {MODELS[model].about}")
        typer.echo(f"{'layer':<16}{'channels':>9}{'stride':>8}  note")
        for info in infos:
            stride = str(info.stride) if info.stride else "-"
            typer.echo(f"{info.name:<16}{info.channels:>9}{stride:>8}  {info.note}")


@app.command()
def models(debug: DebugOpt = False) -> None:
    """List the networks dreamvid can dream with."""
    from dreamvid.models import DEFAULT_MODEL, MODELS

    with _errors(debug):
        for name, spec in MODELS.items():
            mark = " (default)" if name == DEFAULT_MODEL else ""
            typer.echo(f"{name:<20}{spec.about}{mark}; default layer {spec.default_layer}")


@app.command()
def presets(debug: DebugOpt = False) -> None:
    """List the presets, one line each."""
    from dreamvid.config import list_presets

    with _errors(debug):
        for info in list_presets():
            typer.echo(f"{info.name:<16}{info.description}")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dreamvid {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    """DeepDream for pictures, videos and endless zooms."""


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
