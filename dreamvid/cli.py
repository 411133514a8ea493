"""The ``dreamvid`` command line: a thin typer layer over :mod:`dreamvid.pipeline`.

Each command resolves its configuration once (defaults < preset < ``--set`` < explicit flags such as
``--model``), hands off to one pipeline function and draws its progress. A :class:`DreamvidError` becomes
one line on stderr and exit status 1 (a traceback only with ``--debug``); Ctrl-C exits with 130; a render
from a damaged input (frames that could not be decoded) writes its output, warns and exits with 3.
``video`` and ``zoom`` keep a checkpoint beside the output: Ctrl-C prints the command that continues the
render (``--resume``), and a checkpoint in the way is offered for resuming (docs/interruptions.md).
"""

from __future__ import annotations

import ctypes
import json
import logging
import re
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from dreamvid import __version__
from dreamvid.errors import DreamvidError

if TYPE_CHECKING:
    from dreamvid.config import Config

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
ReactOpt = Annotated[Optional[list[str]], typer.Option("--react", help="Audio reaction, repeatable, added to the preset's: 'zoom *= 1 + 0.3 * low', 'step_size += 0.006 * onset', 'rotate += 20 * beat'.")]
AudioOpt = Annotated[Optional[Path], typer.Option("--audio", help="Soundtrack (WAV, MP3, FLAC, M4A ...) that drives audio.react and is the output's sound.")]
ProjectionOpt = Annotated[Optional[str], typer.Option("--projection", help="equirect: a 360° panorama, dreamed without a seam and with care at the poles; flat; auto (default): from the input's 360 metadata.")]
StereoOpt = Annotated[Optional[str], typer.Option("--stereo", help="top-bottom or left-right: two eyes in one frame, dreamed alike; mono; auto (default): from the input's metadata.")]
MaxMemoryOpt = Annotated[Optional[str], typer.Option("--max-memory", help="Memory one dream step may use (e.g. 2GB, 500MB; 0: no limit); larger frames are dreamed in tiles. Default 2GB.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue an interrupted render of this output from its checkpoint (same settings).")]
RestartOpt = Annotated[bool, typer.Option("--restart", help="Discard the checkpoint of an interrupted render of this output and start over.")]
PlaylistsOpt = Annotated[bool, typer.Option("--allow-playlists", help="Let inputs be HLS/concat playlists or other formats that make ffmpeg read the files or URLs they name (refused by default).")]

_ARGV: list[str] | None = None
"""The command line as typed (set by :func:`main`), to print the exact command that resumes a render."""


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid TOML basic string


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _with_reactions(config: Config, reactions: list[str] | None) -> Config:
    """``config`` with the ``--react`` reactions appended to ``audio.react``."""
    if not reactions:
        return config
    from dataclasses import replace

    return replace(config, audio=replace(config.audio, react=(*config.audio.react, *reactions)))


def _overrides(sets: list[str] | None, **flags: str | int | Path | None) -> list[str]:
    """``--set`` values followed by the explicit flags (which therefore win), as ``table.key=value``."""
    keys = {"model": "model.name", "weights": "model.weights", "objective": "dream.objective",
            "seed": "run.seed", "device": "run.device", "coherence": "video.coherence", "zoom": "zoom.zoom",
            "rotate": "zoom.rotate", "projection": "vr.projection", "stereo": "vr.stereo",
            "max_memory": "run.max_memory", "workers": "scale.workers", "ray_address": "scale.address"}
    if flags.get("objective") is not None and not str(flags["objective"]).strip():
        from dreamvid.errors import ConfigError

        raise ConfigError("--objective is empty; give one such as b10, b12:7 or 0.5*b8+b12, or leave the flag out "
                          "for the preset's objective")
    out = list(sets or [])
    for name, value in flags.items():
        if value is None:
            continue
        numeric = isinstance(value, (int, float)) or (name in ("zoom", "rotate") and _is_number(str(value)))
        out.append(f"{keys[name]}={value}" if numeric else f"{keys[name]}={_toml_string(str(value))}")
    return out


def _parse_memory(text: str | None) -> float | None:
    """``--max-memory`` in gigabytes: ``2GB``, ``1.5G``, ``500MB``, ``750M``, ``2`` (GB) or ``0`` (no limit)."""
    if text is None:
        return None
    from dreamvid.errors import ConfigError

    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(gb|g|mb|m)?\s*", text.lower())
    if match is None:
        raise ConfigError(f"--max-memory must be a size like 2GB or 500MB (0 for no limit), got {text!r}")
    value = float(match.group(1))
    return value / 1000 if (match.group(2) or "g").startswith("m") else value


@contextmanager
def _errors(debug: bool, interrupted: Callable[[], str] | None = None) -> Iterator[None]:
    """Turn project errors into one line and exit 1; Ctrl-C into exit 130; tracebacks only with --debug.

    ``interrupted`` makes the line printed on Ctrl-C (say, how to resume); default ``interrupted``.
    """
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
        typer.echo(interrupted() if interrupted is not None else "interrupted", err=True)
        raise typer.Exit(130) from None


def _playlists(allowed: bool):  # noqa: ANN202
    """``--allow-playlists``: read inputs with ffmpeg's defaults (playlists too) within the command."""
    from dreamvid.video.process import allow_playlists

    return allow_playlists(allowed)


class _Bar:
    """A progress callback drawing ``label [####  ] done/total unit  rate/s  ETA`` on stderr.

    On a terminal the line redraws in place; otherwise a line is printed at every tenth of the work. The
    first call starts the clock (with ``done`` > 0 for a resumed render: the rate counts from there).
    A ``preview`` frame, when the render passes one, is not drawn.
    """

    def __init__(self, label: str, unit: str = "steps", width: int = 24) -> None:
        self.label, self.unit, self.width = label, unit, width
        self._start: float | None = None
        self._first = 0
        self._tty = sys.stderr.isatty()
        self._last_tenth = -1

    def __call__(self, done: int, total: int, preview: object = None) -> None:
        now = time.monotonic()
        if self._start is None:
            self._start, self._first = now, done
            return
        elapsed = max(now - self._start, 1e-9)
        rate = (done - self._first) / elapsed
        eta = (total - done) / rate if rate > 0 else 0.0
        filled = int(self.width * done / max(total, 1))
        line = (f"{self.label} [{'#' * filled}{' ' * (self.width - filled)}] {done}/{total} {self.unit}  "
                f"{rate:.2f} {self.unit}/s  ETA {_duration(eta)}")
        if self._tty:
            sys.stderr.write("\r" + line)
            sys.stderr.flush()
        elif done * 10 // max(total, 1) > self._last_tenth or done == total:
            self._last_tenth = done * 10 // max(total, 1)
            sys.stderr.write(line + "\n")

    def close(self) -> None:
        if self._tty and self._start is not None:
            sys.stderr.write("\n")


DAMAGED_INPUT_EXIT = 3
"""Exit status of a render that wrote its output from a damaged input: frames that could not be decoded
(a file cut short, corrupt data) are missing or repeated, and a warning named them."""


class _DamageWatch(logging.Handler):
    """Show the library's damaged-input warnings as ``warning: ...`` lines and count them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        typer.echo(("\n" if sys.stderr.isatty() else "") + f"warning: {record.getMessage()}", err=True)


def _render(unit: str, work: Callable[[_Bar], Path]) -> None:
    """Run a render with a progress bar counting ``unit``, then say where the output is.

    A damaged input (see :data:`dreamvid.video.damage_log`) still gives an output, but exit status 3.
    """
    from dreamvid.video import damage_log

    bar = _Bar("dreaming", unit)
    watch = _DamageWatch()
    damage_log.addHandler(watch)
    damage_log.propagate = False
    try:
        out = work(bar)
    finally:
        bar.close()
        damage_log.removeHandler(watch)
        damage_log.propagate = True
    typer.echo(f"wrote {out}", err=True)
    if watch.count:
        typer.echo(f"warning: the input was damaged; {out} holds every frame that could be decoded "
                   f"(exit status {DAMAGED_INPUT_EXIT})", err=True)
        raise typer.Exit(DAMAGED_INPUT_EXIT)


def _render_resumable(unit: str, work: Callable[[_Bar, bool, bool], Path], *, resume: bool, restart: bool) -> None:
    """:func:`_render` for a render with a checkpoint: ``work(bar, resume, restart)``.

    When a checkpoint of an earlier render is in the way, a terminal is asked whether to resume it, start
    over or quit; anywhere else (scripts, CI) nothing waits on stdin: the offer is the error line, exit 1.
    """
    from dreamvid.checkpoint import CheckpointFound

    try:
        _render(unit, lambda bar: work(bar, resume, restart))
    except CheckpointFound as found:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise
        choices = "rsq" if found.matches else "sq"
        question = (f"an earlier render of this output stopped after {found.done}: [r]esume it, "
                    "[s]tart over or [q]uit?" if found.matches else f"{found}\n[s]tart over or [q]uit?")
        answer = ""
        while not answer or answer not in choices:
            answer = str(typer.prompt(question, default=choices[0], err=True)).strip().lower()[:1]
        if answer == "q":
            raise typer.Exit(1) from None
        _render(unit, lambda bar: work(bar, answer == "r", answer == "s"))


def _resume_hint(output: Path) -> Callable[[], str]:
    """The line to print on Ctrl-C during a render of ``output``: how to continue it, if it kept frames."""

    def hint() -> str:
        from dreamvid.checkpoint import checkpoint_dir, work_done

        done = work_done(output)
        if done is None:
            return "interrupted"
        frames, chunks = done
        if _ARGV is None:
            how = "run the same command with --resume"
        else:
            args = [arg for arg in _ARGV if arg != "--restart"]
            how = shlex.join(["dreamvid", *args, *([] if "--resume" in args else ["--resume"])])
        what = f"{chunks} finished chunks are" if chunks else f"{frames} frames are"
        return f"interrupted: {what} kept in {checkpoint_dir(output)}; to continue: {how}"

    return hint


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


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
    projection: ProjectionOpt = None,
    stereo: StereoOpt = None,
    max_memory: MaxMemoryOpt = None,
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
                                                seed=seed, device=device, projection=projection, stereo=stereo,
                                                max_memory=_parse_memory(max_memory)))
        _render("steps", lambda bar: dream_image(config, output, input=input, noise_size=noise_size, progress=bar))


@app.command()
def video(
    input: Annotated[Path, typer.Argument(help="Clip to dream: anything ffmpeg reads (MP4, MOV, MKV, WebM, GIF ...).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output: .mp4, .webm, .gif, or a folder for PNG frames.")],
    preset: PresetOpt = None,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    objective: ObjectiveOpt = None,
    coherence: Annotated[Optional[str], typer.Option("--coherence", help="flow (default): the dream moves with the scene; blend: mix in the previous dreamed frame (peers' method); none: every frame on its own.")] = None,
    start: Annotated[float, typer.Option("--start", help="Start this many seconds into the clip.")] = 0.0,
    duration: Annotated[Optional[float], typer.Option("--duration", help="Render this many seconds.")] = None,
    frames: Annotated[Optional[int], typer.Option("--frames", help="Render this many frames.")] = None,
    width: Annotated[Optional[int], typer.Option("--width", help="Downscale to this width (height keeps the aspect).")] = None,
    preview: Annotated[Optional[Path], typer.Option("--preview", help="Also write a contact sheet PNG of sampled output frames.")] = None,
    audio: AudioOpt = None,
    react: ReactOpt = None,
    set_: SetOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    projection: ProjectionOpt = None,
    stereo: StereoOpt = None,
    max_memory: MaxMemoryOpt = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Render in chunks on a local Ray cluster with this many workers (pip install 'dreamvid[cluster]'); CPU threads are divided among them.")] = None,
    ray_address: Annotated[Optional[str], typer.Option("--ray-address", help="Render in chunks on a running Ray cluster: auto, HOST:PORT or ray://HOST:PORT.")] = None,
    plan: Annotated[bool, typer.Option("--plan", help="Print the chunks a render with --workers would have, and exit.")] = False,
    resume: ResumeOpt = False,
    restart: RestartOpt = False,
    allow_playlists: PlaylistsOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Dream a video clip; the dream sticks to the scene and the sound is kept.

    Example: dreamvid video clip.mp4 -o dream.mp4 --preset video --width 640 --preview sheet.png;
    dreamvid video gig.mp4 -o pulse.mp4 --preset video --react "step_size += 0.01 * onset"

    Variable frame rate clips are rendered at their nominal constant rate. A damaged clip (cut short,
    corrupt mid-stream) still renders every frame that can be decoded; a warning names the lost frames
    and the exit status is 3. Other errors: one line, exit status 1.
    """
    from dreamvid.config import load_config
    from dreamvid.pipeline import plan_for, render_video

    with _errors(debug, interrupted=_resume_hint(output)), _playlists(allow_playlists):
        config = _with_reactions(load_config(preset, _overrides(set_, model=model, weights=weights, objective=objective,
                                                                seed=seed, device=device, coherence=coherence,
                                                                projection=projection, stereo=stereo,
                                                                max_memory=_parse_memory(max_memory), workers=workers,
                                                                ray_address=ray_address)), react)
        if plan:
            typer.echo(plan_for(config, input, start=start, duration=duration, frames=frames, width=width).describe())
            return
        _render_resumable("frames", lambda bar, resume, restart: render_video(
            config, input, output, start=start, duration=duration, frames=frames, width=width, preview=preview,
            audio=audio, progress=bar, resume=resume, restart=restart), resume=resume, restart=restart)


@app.command()
def zoom(
    input: Annotated[Optional[Path], typer.Argument(help="Picture to start from; omit to start from noise.")] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Output: .mp4, .webm, .gif, or a folder for PNG frames.")] = ...,  # type: ignore[assignment]
    frames: Annotated[Optional[int], typer.Option("--frames", help="Frames to render (default: as long as --audio, else 120).")] = None,
    fps: Annotated[str, typer.Option("--fps", help="Frame rate (e.g. 30, 24000/1001); motion rates are per second.")] = "30",
    size: Annotated[Optional[str], typer.Option("--size", help="WxH: resize the picture, or the size of the noise (default 512x512).")] = None,
    loop: Annotated[float, typer.Option("--loop", help="Seconds at the end that crossfade into the start, so the clip loops seamlessly.")] = 0.0,
    zoom_rate: Annotated[Optional[str], typer.Option("--zoom", help="Zoom per second (> 1 zooms in), or a schedule like '0:1.2, 90:1.5'.")] = None,
    rotate: Annotated[Optional[str], typer.Option("--rotate", help="Degrees per second, counter-clockwise, or a schedule.")] = None,
    audio: AudioOpt = None,
    start: Annotated[float, typer.Option("--start", help="With --audio: start this many seconds into the song.")] = 0.0,
    duration: Annotated[Optional[float], typer.Option("--duration", help="With --audio: use this many seconds of the song.")] = None,
    react: ReactOpt = None,
    preset: Annotated[Optional[str], typer.Option("--preset", "-p", help="Preset name (see 'dreamvid presets') or a .toml path.")] = "endless-zoom",
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    objective: ObjectiveOpt = None,
    set_: SetOpt = None,
    seed: SeedOpt = None,
    device: DeviceOpt = None,
    projection: ProjectionOpt = None,
    stereo: StereoOpt = None,
    max_memory: MaxMemoryOpt = None,
    workers: Annotated[Optional[int], typer.Option("--workers", help="Refused: each zoom frame is made from the last, so a zoom cannot be split among workers.")] = None,
    resume: ResumeOpt = False,
    restart: RestartOpt = False,
    allow_playlists: PlaylistsOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Endless zoom: each frame is the last one zoomed/rotated/shifted a little, then dreamed again.

    Starts from the endless-zoom preset. Example: dreamvid zoom photo.jpg -o zoom.mp4 --frames 300 --fps 30 --loop 1 --rotate 10
    """
    from dreamvid.config import load_config
    from dreamvid.images import parse_fps, parse_size
    from dreamvid.pipeline import render_zoom

    with _errors(debug, interrupted=_resume_hint(output)), _playlists(allow_playlists):
        if workers is not None:
            from dreamvid.errors import ConfigError

            raise ConfigError("--workers cannot split a zoom: each zoom frame is made from the last one; render "
                              "it without --workers")
        rate = parse_fps(fps)
        frame_size = parse_size(size) if size is not None else None
        config = _with_reactions(load_config(preset, _overrides(set_, model=model, weights=weights, objective=objective,
                                                                seed=seed, device=device, zoom=zoom_rate, rotate=rotate,
                                                                projection=projection, stereo=stereo,
                                                                max_memory=_parse_memory(max_memory))), react)
        _render_resumable("frames", lambda bar, resume, restart: render_zoom(
            config, output, frames=frames, fps=rate, input=input, size=frame_size, loop=loop, audio=audio,
            audio_start=start, duration=duration, progress=bar, resume=resume, restart=restart),
            resume=resume, restart=restart)


@app.command()
def analyze(
    audio: Annotated[Path, typer.Argument(help="A song or a video with sound (WAV, MP3, FLAC, M4A, MP4 ...).")],
    fps: Annotated[str, typer.Option("--fps", help="Frame rate the envelopes are sampled at: one value per video frame.")] = "30",
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a PNG plot of the envelopes and beats over time.")] = None,
    csv: Annotated[Optional[Path], typer.Option("--csv", help="Write the per-frame envelopes as CSV.")] = None,
    start: Annotated[float, typer.Option("--start", help="Start this many seconds into the audio.")] = 0.0,
    duration: Annotated[Optional[float], typer.Option("--duration", help="Analyse this many seconds.")] = None,
    preset: PresetOpt = None,
    set_: SetOpt = None,
    allow_playlists: PlaylistsOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Show what audio reactions will see: loudness, onsets, beats and low/mid/high bands per frame.

    Example: dreamvid analyze song.mp3 --fps 30 --plot envelopes.png --csv envelopes.csv
    """
    from dreamvid.audio import NAMES, SAMPLE_RATE, analyze as analyze_audio, plot as plot_envelopes, write_csv
    from dreamvid.config import load_config
    from dreamvid.errors import ConfigError
    from dreamvid.images import check_output_path, parse_fps, write_image
    from dreamvid.video import read_audio

    with _errors(debug), _playlists(allow_playlists):
        rate = parse_fps(fps)
        config = load_config(preset, list(set_ or []))
        if plot is not None:
            check_output_path(plot, extensions={".png"}, inputs=[audio])
        if csv is not None:
            check_output_path(csv, extensions={".csv"}, inputs=[audio])
        samples = read_audio(audio, sample_rate=SAMPLE_RATE, start=start, duration=duration)
        if len(samples) == 0:
            raise ConfigError(f"{audio} has no samples in the part asked for; check --start/--duration")
        env = analyze_audio(samples, SAMPLE_RATE, fps=float(rate), attack=config.audio.attack,
                            release=config.audio.release)
        seconds = len(samples) / SAMPLE_RATE
        typer.echo(f"duration   {seconds:.2f} s, {env.frames} frames at {float(rate):g} fps")
        if len(env.beats):
            typer.echo(f"tempo      {env.tempo:.1f} BPM, {len(env.beats)} beats from {env.beats[0]:.2f} s "
                       f"to {env.beats[-1]:.2f} s")
        else:
            typer.echo("tempo      no steady beat found (the beat envelope is zero; react to onset instead)")
        for name in NAMES:
            values = env[name]
            typer.echo(f"{name:<10} mean {values.mean():.2f}  frames above 0.5: {(values > 0.5).mean():.0%}")
        if plot is not None:
            write_image(plot, plot_envelopes(env, title=f"{audio.name}  {env.tempo:.0f} BPM" if len(env.beats) else audio.name))
            typer.echo(f"wrote {plot}", err=True)
        if csv is not None:
            write_csv(csv, env)
            typer.echo(f"wrote {csv}", err=True)


@app.command()
def metrics(
    input: Annotated[Path, typer.Argument(help="The source clip.")],
    output: Annotated[Path, typer.Argument(help="The dreamed clip made from it (same frames, same size).")],
    flow: Annotated[str, typer.Option("--flow", help="Optical flow for the measurement: dis, dis-fast or farneback.")] = "dis",
    debug: DebugOpt = False,
) -> None:
    """Measure temporal coherence: hallucination flicker, warping error and dream strength.

    Flow is computed on the input; only pixels the flow can follow (not occluded) count.
    """
    from dreamvid.metrics import clip_metrics
    from dreamvid.video import read_frames

    with _errors(debug):
        m = clip_metrics(read_frames(input), read_frames(output), flow_method=flow)
        tenth = max(1, len(m.strength_per_frame) // 10)
        typer.echo(f"frames                 {len(m.strength_per_frame)}")
        typer.echo(f"hallucination flicker  {m.hflicker:.3f}   median {m.hflicker_median:.3f}   (0: the dream moves with the scene; ~2: a new dream every frame)")
        typer.echo(f"warping error E_warp   {m.ewarp_output:.3e}   (input's own: {m.ewarp_input:.3e}; ratio {m.ewarp_output / max(m.ewarp_input, 1e-12):.1f})")
        typer.echo(f"dream strength         {m.strength:.4f}   (mean |output - input| on [0, 1])")
        first = sum(m.strength_per_frame[:tenth]) / tenth
        last = sum(m.strength_per_frame[-tenth:]) / tenth
        typer.echo(f"strength first tenth   {first:.4f}   last tenth {last:.4f}   drift {m.strength_drift():+.1%}")


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


@app.command()
def ui(
    host: Annotated[str, typer.Option("--host", help="Address to serve on; other than loopback it needs a password.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to serve on.")] = 7860,
    auth: Annotated[Optional[str], typer.Option("--auth", help="USER:PASS the page asks for; or set DREAMVID_UI_AUTH, or use --auth-file.")] = None,
    auth_file: Annotated[Optional[Path], typer.Option("--auth-file", help="A file whose first line is USER:PASS.")] = None,
    debug: DebugOpt = False,
) -> None:
    """Serve the browser studio: pictures, clips and zoom loops with live preview (pip install 'dreamvid[ui]')."""
    with _errors(debug):
        from dreamvid.ui import serve

        serve(host=host, port=port, auth=auth, auth_file=auth_file, announce=lambda line: typer.echo(line, err=True))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"dreamvid {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
) -> None:
    """DeepDream for pictures, videos and endless zooms."""


MMAP_THRESHOLD = 64 << 20


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory instead of unmapping it after every dream step.

    Each gradient step frees and reallocates the same large activation buffers; by default glibc
    returns them to the system and pays the page faults again every step (``scripts/bench_engine.py
    --allocator-compare`` measures the difference). Blocks over ``MMAP_THRESHOLD`` are still mapped and
    unmapped: with every block in the heap, the full-size buffers and tiles of an 8K panorama
    fragmented it until the peak RSS passed 7 GB. Process-wide, so it belongs here, not in the library.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD: blocks up to 64 MiB come from the heap
        libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: do not give the heap back after each free
    except (OSError, AttributeError):  # not glibc
        pass


def main() -> None:
    """Console-script entry point."""
    global _ARGV
    _ARGV = sys.argv[1:]
    _keep_freed_memory()
    app()


if __name__ == "__main__":
    main()
