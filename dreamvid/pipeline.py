"""Renders: ``(config, input, output) → file``. Where the configuration ends and frame programs begin.

Each function validates what it can (output path, device, objective, audio reactions) before any
expensive work, resolves the configuration once into an engine, a :class:`~dreamvid.programs.Dreamer`
and a :class:`~dreamvid.timeline.Timeline`, and hands a frame program to the render loop
(:mod:`dreamvid.render`) with a :class:`~dreamvid.checkpoint.Checkpoint` beside the output. Nothing below
this module sees the :class:`~dreamvid.settings.Config`; nothing here prints (progress goes through a
callback, diagnostics through ``logging``).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from fractions import Fraction
from itertools import repeat
from pathlib import Path

import cv2
import numpy as np
import torch

import dreamvid
from dreamvid.arrays import to_float, to_uint8
from dreamvid.audio import SAMPLE_RATE, analyze
from dreamvid.checkpoint import Checkpoint, file_identity
from dreamvid.config import config_to_dict, save_config_json
from dreamvid.engine import Engine, Progress, build_engine, noise_image, resolve_device, seeded_generator
from dreamvid.errors import ConfigError, InputError
from dreamvid.fourier import NOISE_CONTRAST
from dreamvid.flow import make_flow
from dreamvid.images import check_output_path, contact_sheet, read_image, write_image
from dreamvid.models import MODELS
from dreamvid.panorama import Layout, check_layout_size, resolve_layout
from dreamvid.programs import Dreamer, StillProgram, VideoRecipe, ZoomProgram
from dreamvid.render import PREVIEW_FRAMES, render, steps
from dreamvid.runtime import runtime_info
from dreamvid.scale.clip import ChunkPlan, chunk_threads, make_plan, render_chunks
from dreamvid.settings import Config
from dreamvid.spherical import read_spherical
from dreamvid.timeline import Timeline
from dreamvid.video import VideoInfo, check_one_frame, output_format, probe, read_audio, read_frames

log = logging.getLogger(__name__)


def sidecar_path(output: Path) -> Path:
    """Where the resolved config of ``output`` is saved: ``OUTPUT.json`` beside it (``cat.png.json``)."""
    return output.with_name(output.name + ".json")


def recorded(config: Config) -> Config:
    """``config`` as its sidecar records it: a blank ``dream.objective`` is the model's default layer, by name.

    Example:
        >>> recorded(Config()).dream.objective
        'b10'
    """
    spec = MODELS.get(config.model.name)
    if isinstance(config.dream.objective, str) and not config.dream.objective.strip() and spec is not None:
        return replace(config, dream=replace(config.dream, objective=spec.default_layer))
    return config


def engine_for(config: Config) -> Engine:
    """The engine of ``config``: its model on its device, every objective its ``dream.objective`` names.

    ``run.threads`` (when set) becomes torch's CPU thread count here, before any dreaming.

    Raises:
        ConfigError, ModelError, ObjectiveError, InputError: with a one-line message.
    """
    if config.run.threads:
        torch.set_num_threads(config.run.threads)
    return build_engine(objectives=config.dream.objectives, model=config.model.name,
                        weights=config.model.weights or None, device=config.run.device, precision=config.run.precision,
                        max_memory=config.run.max_memory_bytes)


def video_recipe(config: Config, layout: Layout, *, fps: float) -> VideoRecipe:
    """The recipe of a video render's coherence program: plain values a worker process can build it from."""
    needs_flow = config.video.coherence == "flow" or layout.eyes > 1
    return VideoRecipe(tuple(config.dream.objectives), config.model.name, config.model.weights or None,
                       config.run.device, config.run.precision, config.run.max_memory_bytes, layout, config.run.seed,
                       fps, config.vr.poles, config.video.flow if needs_flow else None,
                       config.video.flow_weights or None, config.video.coherence, config.video.scene_cuts)


def dreamer_for(config: Config, engine: Engine, layout: Layout, *, fps: float = 30.0, coherence: bool = False,
                progress: Progress | None = None) -> Dreamer:
    """What every frame of a render of ``config`` shares; the optical flow is made when ``coherence`` (flow)
    or a stereo layout needs it."""
    flow = None
    if coherence or layout.eyes > 1:
        flow = make_flow(config.video.flow, weights=config.video.flow_weights or None, device=str(engine.device),
                         wrap_x=layout.equirect)
    return Dreamer(engine, layout, seed=config.run.seed, fps=fps, poles=config.vr.poles, flow=flow, progress=progress)


def dream_picture(config: Config, engine: Engine, picture: np.ndarray, *, progress: Progress | None = None,
                  source: str = "the picture") -> np.ndarray:
    """Dream an ``(H, W, 3)`` float32 picture in [0, 1] as ``config`` says (its ``[vr]`` layout, schedules at
    frame 0): a :class:`~dreamvid.programs.StillProgram` stepped once. Returns a new float32 array."""
    layout = _still_layout(config, picture, source=source)
    program = StillProgram(dreamer_for(config, engine, layout, progress=progress))
    _, result = next(steps(program, [picture], Timeline(config).at))
    return result


def dream_image(
    config: Config,
    output: str | os.PathLike,
    *,
    input: str | os.PathLike | None = None,
    noise_size: tuple[int, int] | None = None,
    progress: Progress | None = None,
) -> Path:
    """Dream a picture (or noise of ``noise_size`` = (width, height)) and write it to ``output``.

    The output appears only when complete; the resolved config is saved beside it as ``OUTPUT.json``.
    Noise comes from the seed's ``"noise"`` stream, the dream from its ``"dream"`` stream
    (:func:`dreamvid.engine.seeded_generator`).

    Returns:
        The output path.

    Example:
        >>> from dreamvid.config import load_config
        >>> dream_image(load_config("subtle"), "out.png", input="cat.jpg")  # doctest: +SKIP
        PosixPath('out.png')
    """
    if (input is None) == (noise_size is None):
        raise ValueError("give exactly one of input and noise_size")
    out = check_output_path(output, inputs=[input] if input is not None else [])
    if input is not None:
        picture = to_float(read_image(input))
    else:
        picture = noise_picture(config, *noise_size)  # type: ignore[misc]
    size = (picture.shape[1], picture.shape[0])
    _still_layout(config, picture, source=str(input or "the noise"))  # refuse a bad layout before loading the model
    engine = engine_for(config)
    result = dream_picture(config, engine, picture, progress=progress, source=str(input or "the noise"))
    del picture
    info = {
        "dreamvid": dreamvid.__version__,
        "input": str(input) if input is not None else f"noise {size[0]}x{size[1]}",
        "output": str(out),
        "device": str(engine.device),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        **runtime_info(),
    }
    save_config_json(recorded(config), sidecar_path(out), extra=info)
    try:
        write_image(out, to_uint8(result, in_place=True))
    except BaseException:
        sidecar_path(out).unlink(missing_ok=True)
        raise
    log.debug("resolved config: %s", config_to_dict(config))
    return out


def noise_picture(config: Config, width: int, height: int) -> np.ndarray:
    """The ``(height, width, 3)`` float32 noise a still from noise starts from: the seed's ``"noise"`` stream,
    made faint for ``dream.parameterization = "fourier"`` (:data:`dreamvid.fourier.NOISE_CONTRAST`)."""
    noise = noise_image(width, height, generator=seeded_generator(config.run.seed, "noise"))
    if config.dream.parameterization == "fourier":
        noise = 0.5 + NOISE_CONTRAST * (noise - 0.5)
    return np.ascontiguousarray(noise[0].permute(1, 2, 0).numpy())


def render_video(
    config: Config,
    input: str | os.PathLike,
    output: str | os.PathLike,
    *,
    start: float = 0.0,
    duration: float | None = None,
    frames: int | None = None,
    width: int | None = None,
    preview: str | os.PathLike | None = None,
    audio: str | os.PathLike | None = None,
    progress: Progress | None = None,
    resume: bool = False,
    restart: bool = False,
    stop: threading.Event | None = None,
) -> Path:
    """Dream a clip frame by frame into ``output`` (MP4, WebM, GIF or a PNG-frames folder), with its audio.

    Frames go through a :class:`~dreamvid.checkpoint.Checkpoint` beside the output, which keeps them (and,
    after each frame, the program's state) until the output is joined and renamed into place; then only
    the output, its ``OUTPUT.json`` settings and the optional preview sheet remain. An interrupted or
    stopped render continues with ``resume``, frame for frame as if it had never stopped.

    Args:
        config: the resolved configuration (``[video]`` says how frames are tied together).
        input: anything ffmpeg reads.
        output: the output path; its extension picks the format.
        start, duration, frames: render part of the clip (seconds, seconds, a frame count).
        width: downscale to this width (height keeps the aspect, rounded to even).
        preview: write a contact sheet PNG of sampled output frames here.
        audio: a soundtrack to use instead of the clip's own (from its start): it drives ``audio.react``
            and is the output's sound.
        progress: ``progress(frames_done, frames_total, preview=None)``; after each frame ``preview`` is
            that frame (uint8 RGB). The total is an estimate.
        resume: continue the checkpoint of an interrupted render of ``output`` (same settings and input).
        restart: discard such a checkpoint and start over.
        stop: an event; once set, the render ends before its next frame and raises
            :class:`~dreamvid.errors.RenderStopped`, its checkpoint kept for ``resume``.

    With ``[scale]`` workers or an address (``config.scale.chunked``) the clip is rendered in chunks on Ray
    (:mod:`dreamvid.scale`): the same settings, another render (each chunk warms up on its own random stream).

    Returns:
        The output path.

    Raises:
        CheckpointError: a checkpoint exists but neither ``resume`` nor ``restart`` is set, or it was made
            with other settings (the message names them).
        RenderStopped: ``stop`` was set.
    """
    _still_only(config, "video")
    if audio is not None:
        _check_soundtrack(audio, start=0.0)
    if config.scale.chunked:
        return _render_chunked(config, input, output, start=start, duration=duration, frames=frames, width=width,
                               preview=preview, audio=audio, progress=progress, resume=resume, restart=restart,
                               stop=stop)
    output_format(output)
    if preview is not None:
        check_output_path(preview, extensions={".png"}, inputs=[input])
    info = probe(input)
    reader = read_frames(input, start=start, duration=duration, frames=frames, width=width, info=info)
    total = _expected_frames(info, start=start, duration=duration, frames=frames)
    timeline = timeline_for(config, fps=float(info.fps), frames=total, audio=audio if audio is not None else input,
                         start=0.0 if audio is not None else start, duration=duration if audio is None else None,
                         own=audio is None and not info.has_audio)
    if config.video.coherence == "none" and timeline.moves:
        raise ConfigError("[zoom] moves what each frame carries from the previous one, but video.coherence = "
                          "'none' carries nothing; use coherence 'flow' or 'blend', or leave [zoom] at rest")
    frames_in = iter(reader)
    first = next(frames_in, None)
    if first is None:
        raise InputError(f"{input} has no frames in the part asked for; check --start/--duration")
    if audio is not None:
        sound, sound_start, sound_duration = audio, 0.0, None
    else:
        sound, sound_start, sound_duration = (input if info.has_audio else None), start, duration
    identity = identity_for(config, "video", inputs={"input": input, "--audio": audio},
                         arguments={"--start": start, "--duration": duration, "--frames": frames, "--width": width})
    size = (first.shape[1], first.shape[0])
    layout = layout_for(config, size, input=input)
    checkpoint = Checkpoint(output, identity=identity, resume=resume, restart=restart,
                            segment_frames=config.video.segment_frames, writer=dict(
        fps=info.fps, size=size, audio_from=sound, audio_start=sound_start, audio_duration=sound_duration,
        crf=config.video.crf, inputs=[input], spherical=spherical_for(config, layout)))
    with checkpoint:
        engine = engine_for(config)
        program = video_recipe(config, layout, fps=float(info.fps)).build(engine)
        render(program, _chain(first, frames_in), timeline.at, checkpoint, total=total, previews=PREVIEW_FRAMES,
               progress=progress, stop=stop)
        out = checkpoint.finish()
        save_config_json(recorded(config), sidecar_path(out), extra={
            "dreamvid": dreamvid.__version__, "input": str(input), "output": str(out), "start": start,
            "duration": duration, "frames": checkpoint.frames_done, "fps": str(info.fps), "device": str(engine.device),
            "torch": torch.__version__,
            **runtime_info(),
        })
        if preview is not None:
            sampled = checkpoint.kept("preview_")
            labels = [f"frame {int(name.removeprefix('preview_'))}" for name, _ in sampled]
            write_image(preview, contact_sheet([f for _, f in sampled], columns=4, labels=labels))
        checkpoint.remove()
    return out


def plan_for(config: Config, input: str | os.PathLike, *, start: float = 0.0, duration: float | None = None,
             frames: int | None = None, width: int | None = None) -> ChunkPlan:
    """The chunks a render of ``input`` in chunks would have (``dreamvid video --plan``): reads the clip once."""
    info = probe(input)
    reader = iter(read_frames(input, start=start, duration=duration, frames=frames, width=width, info=info))
    first = next(reader, None)
    if first is None:
        raise InputError(f"{input} has no frames in the part asked for; check --start/--duration")
    layout = layout_for(config, (first.shape[1], first.shape[0]), input=input)
    flow = config.video.coherence == "flow" and config.video.scene_cuts
    independent = config.video.coherence == "none"
    return make_plan(_chain(first, reader), fps=float(info.fps), cut_method=config.video.flow if flow else None,
                     wrap_x=layout.equirect, segment_seconds=config.scale.segment_seconds,
                     warmup=0 if independent else config.scale.warmup, overlap=config.scale.overlap)


def _render_chunked(config: Config, input: str | os.PathLike, output: str | os.PathLike, *, start: float,
                    duration: float | None, frames: int | None, width: int | None,
                    preview: str | os.PathLike | None, audio: str | os.PathLike | None, progress: Progress | None,
                    resume: bool, restart: bool, stop: threading.Event | None) -> Path:
    """:func:`render_video` in chunks on Ray: plan, render the chunks the checkpoint lacks, join them."""
    fmt = output_format(output)
    if fmt not in ("mp4", "webm"):
        raise ConfigError(f"a render in chunks (--workers, --ray-address) writes MP4 or WebM, not {fmt}; choose an "
                          ".mp4 or .webm output")
    if preview is not None:
        check_output_path(preview, extensions={".png"}, inputs=[input])
    info = probe(input)
    plan = plan_for(config, input, start=start, duration=duration, frames=frames, width=width)
    timeline = timeline_for(config, fps=float(info.fps), frames=plan.frames, audio=audio if audio is not None else input,
                            start=0.0 if audio is not None else start, duration=duration if audio is None else None,
                            own=audio is None and not info.has_audio)
    if config.video.coherence == "none" and timeline.moves:
        raise ConfigError("[zoom] moves what each frame carries from the previous one, but video.coherence = "
                          "'none' carries nothing; use coherence 'flow' or 'blend', or leave [zoom] at rest")
    reader = iter(read_frames(input, start=start, duration=duration, frames=frames, width=width, info=info))
    first = next(reader)
    size = (first.shape[1], first.shape[0])
    layout = layout_for(config, size, input=input)
    threads = chunk_threads(config.run.threads, config.scale.workers)
    if audio is not None:
        sound, sound_start, sound_duration = audio, 0.0, None
    else:
        sound, sound_start, sound_duration = (input if info.has_audio else None), start, duration
    identity = identity_for(config, "video", inputs={"input": input, "--audio": audio}, arguments={
        "--start": start, "--duration": duration, "--frames": frames, "--width": width, "chunked": True,
        "threads per task": threads})
    writer = dict(fps=info.fps, size=size, audio_from=sound, audio_start=sound_start, audio_duration=sound_duration,
                  crf=config.video.crf, inputs=[input], spherical=spherical_for(config, layout))
    with Checkpoint(output, identity=identity, resume=resume, restart=restart, writer=writer) as checkpoint:
        out = render_chunks(checkpoint, plan, video_recipe(config, layout, fps=float(info.fps)), timeline,
                            _chain(first, reader), writer=writer, fps=info.fps, crf=config.video.crf, threads=threads,
                            workers=config.scale.workers or 1, address=config.scale.address or None,
                            gpu=resolve_device(config.run.device).type == "cuda", progress=progress, stop=stop)
        save_config_json(recorded(config), sidecar_path(out), extra={
            "dreamvid": dreamvid.__version__, "input": str(input), "output": str(out), "start": start,
            "duration": duration, "frames": plan.frames, "fps": str(info.fps), "chunks": len(plan.chunks),
            "threads per task": threads, "torch": torch.__version__})
        if preview is not None:
            every = max(1, -(-plan.frames // PREVIEW_FRAMES))
            sampled = [(k, f) for k, f in enumerate(read_frames(out)) if k % every == 0][:PREVIEW_FRAMES]
            write_image(preview, contact_sheet([f for _, f in sampled], columns=4,
                                               labels=[f"frame {k}" for k, _ in sampled]))
        checkpoint.remove()
    return out


def render_zoom(
    config: Config,
    output: str | os.PathLike,
    *,
    fps: Fraction | int = Fraction(30),
    frames: int | None = None,
    input: str | os.PathLike | None = None,
    size: tuple[int, int] | None = None,
    loop: float = 0.0,
    audio: str | os.PathLike | None = None,
    audio_start: float = 0.0,
    duration: float | None = None,
    progress: Progress | None = None,
    resume: bool = False,
    restart: bool = False,
    stop: threading.Event | None = None,
) -> Path:
    """Render an endless-zoom clip from a picture (or noise of ``size``) into ``output``.

    With ``audio`` it is a music visualizer: as long as the song (or ``duration``), the song in the
    output, and ``audio.react`` driving the settings frame by frame. Frames go through a checkpoint
    beside the output, as in :func:`render_video`, so an interrupted render continues with ``resume``.

    Args:
        fps: frame rate; motion rates are per second so the motion is the same at any fps.
        frames: frames in the output; default the length of ``audio`` (or ``duration``), else 120.
        input: the start picture; ``None`` starts from noise (the seed's ``"noise"`` stream).
        size: ``(width, height)``: resize the picture to it, or the size of the noise (default 512×512).
        loop: seconds of crossfade from the end into the start, so the clip loops without a jump.
        audio: a song (WAV, MP3, FLAC, M4A, or a video's soundtrack).
        audio_start, duration: the part of the song to use, in seconds.
        progress, resume, restart, stop: as in :func:`render_video`.

    Returns:
        The output path.

    Raises:
        CheckpointError: a checkpoint exists but neither ``resume`` nor ``restart`` is set, or it was made
            with other settings (the message names them).
        RenderStopped: ``stop`` was set.
    """
    _still_only(config, "zoom")
    fps = Fraction(fps)
    output_format(output)
    frames = _zoom_length(audio, frames, fps=fps, audio_start=audio_start, duration=duration)
    overlap = round(loop * float(fps))
    if loop < 0 or overlap >= frames:
        raise ConfigError(f"--loop must be from 0 to less than the clip's length ({frames / float(fps):.2f} s), got {loop}")
    # rendered frame i is output frame i - overlap; the first `overlap` are shown in the closing crossfade
    order = [frames - overlap + i for i in range(overlap)] + list(range(frames))
    timeline = timeline_for(config, fps=float(fps), frames=frames, audio=audio, start=audio_start,
                         duration=duration, order=order)
    picture = _zoom_start(config, input, size)
    height, width = picture.shape[:2]
    identity = identity_for(config, "zoom", inputs={"input": input, "--audio": audio}, arguments={
        "--size": [width, height], "--fps": str(fps), "--frames": frames, "--loop": loop, "--start": audio_start,
        "--duration": duration})
    layout = layout_for(config, (width, height), input=input)
    checkpoint = Checkpoint(output, identity=identity, resume=resume, restart=restart,
                            segment_frames=config.video.segment_frames, writer=dict(
        fps=fps, size=(width, height), crf=config.video.crf, inputs=[input] if input is not None else [],
        audio_from=audio, audio_start=audio_start, audio_duration=duration, spherical=spherical_for(config, layout)))
    with checkpoint:
        engine = engine_for(config)
        program = ZoomProgram(dreamer_for(config, engine, layout, fps=float(fps)), picture)
        render(program, repeat(None, frames + overlap), timeline.at, checkpoint, total=frames, overlap=overlap,
               progress=progress, stop=stop)
        out = checkpoint.finish()
        save_config_json(recorded(config), sidecar_path(out), extra={
            "dreamvid": dreamvid.__version__, "input": str(input) if input else f"noise {width}x{height}",
            "output": str(out), "frames": frames, "fps": str(fps), "loop": loop, "device": str(engine.device),
            "audio": str(audio) if audio is not None else None, "audio_start": audio_start,
            **runtime_info(),
        })
        checkpoint.remove()
    return out


def _zoom_length(audio: str | os.PathLike | None, frames: int | None, *, fps: Fraction, audio_start: float,
                 duration: float | None) -> int:
    """Frames in a zoom: ``frames``, else as long as the song (or ``duration``), else 120; the song checked."""
    if audio is None and (audio_start or duration is not None):
        raise ConfigError("--start and --duration choose a part of the song: give it with --audio FILE")
    check_one_frame(duration, fps)
    if audio is not None:
        _check_soundtrack(audio, start=audio_start)
    if audio is not None and frames is None:
        seconds = duration
        if seconds is None:
            seconds = len(read_audio(audio, sample_rate=SAMPLE_RATE, start=audio_start)) / SAMPLE_RATE
        frames = max(1, math.ceil(seconds * float(fps) - 1e-9))
    frames = 120 if frames is None else frames
    if frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {frames}")
    return frames


def _check_soundtrack(audio: str | os.PathLike, *, start: float) -> None:
    """Refuse a soundtrack without a sample from ``start`` on (a WAV header and no data): it would add silence."""
    if len(read_audio(audio, start=start, duration=1.0)) == 0:
        where = f" after {start:g} s" if start else ""
        raise InputError(f"{audio} has no sound samples{where}; give a soundtrack that has sound")


def _zoom_start(config: Config, input: str | os.PathLike | None, size: tuple[int, int] | None) -> np.ndarray:
    """The zoom's start: the picture (resized to ``size``), or noise of ``size`` (512×512) from the seed."""
    if input is not None:
        picture = read_image(input)
        if size is not None:
            picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
        return to_float(picture)
    width, height = size or (512, 512)
    noise = noise_image(width, height, generator=seeded_generator(config.run.seed, "noise"))
    return np.ascontiguousarray(noise[0].permute(1, 2, 0).numpy())


def _still_layout(config: Config, picture: np.ndarray, *, source: str) -> Layout:
    """The layout of a still: ``[vr]`` (``auto`` is flat mono: a picture carries no 360 metadata), checked."""
    size = (picture.shape[1], picture.shape[0])
    layout = resolve_layout(config.vr, None, size, source=source)
    check_layout_size(layout, size)
    if layout.equirect or layout.eyes > 1:
        _still_only(config, "360° or stereo picture")
    return layout


def _still_only(config: Config, what: str) -> None:
    """Refuse ``dream.parameterization = "fourier"`` (flat still pictures only) for a ``what`` render."""
    if config.dream.parameterization != "pixels":
        raise ConfigError(f"dream.parameterization = {config.dream.parameterization!r} paints flat still pictures, "
                          f"not a {what}; use dream.parameterization = 'pixels' (or another preset than from-noise)")


def layout_for(config: Config, size: tuple[int, int], *, input: str | os.PathLike | None) -> Layout:
    """The frame layout: ``[vr]``, with ``auto`` read from the input's spherical metadata."""
    metadata = None
    if input is not None and "auto" in (config.vr.projection, config.vr.stereo) and Path(input).is_file():
        metadata = read_spherical(input)  # None for files without it, and for other formats than MP4/MOV
    layout = resolve_layout(config.vr, metadata, size, source=str(input) if input is not None else "the noise")
    check_layout_size(layout, size)
    if layout.equirect or layout.eyes > 1:
        log.info("dreaming %s frames", layout.describe())
    return layout


def spherical_for(config: Config, layout: Layout) -> tuple[str, str] | None:
    """What the output's spherical metadata says (``VideoWriter(spherical=...)``), or ``None`` for flat frames."""
    return (layout.projection, layout.stereo) if layout.equirect and config.vr.metadata else None


_NOT_IDENTITY = frozenset({"scale.workers", "scale.address"})
"""Settings that change where a render runs, not its frames: a render may resume with other values."""


def identity_for(
    config: Config,
    command: str,
    *,
    inputs: Mapping[str, str | os.PathLike | None],
    arguments: Mapping[str, object],
) -> dict[str, object]:
    """What makes two renders the same, for a checkpoint: versions, device, inputs, arguments, resolved config.

    Inputs are named by path, size and modification time; arguments by their command-line flags; the
    configuration key by key (``"dream.steps"``), so a refusal to resume can say exactly what differs.
    """
    identity: dict[str, object] = {"command": command, "dreamvid": dreamvid.__version__, "torch": torch.__version__,
                                   "device": str(resolve_device(config.run.device))}
    identity.update({name: file_identity(path) if path is not None else None for name, path in inputs.items()})
    identity.update(arguments)
    identity.update({f"{table}.{key}": value for table, values in config_to_dict(config).items()
                     for key, value in values.items() if f"{table}.{key}" not in _NOT_IDENTITY})
    return identity


def timeline_for(
    config: Config,
    *,
    fps: float,
    frames: int,
    audio: str | os.PathLike | None,
    start: float = 0.0,
    duration: float | None = None,
    own: bool = False,
    order: Sequence[int] | None = None,
) -> Timeline:
    """The per-frame settings; with ``audio.react``, the soundtrack of ``audio`` is analysed first.

    ``own``: ``audio`` is the input clip and has no sound (so say that, and how to give one). ``order``
    maps each rendered frame to the output frame whose sound drives it (the loop crossfade renders the
    clip's start last). Every frame is evaluated once so a reaction out of range fails before rendering.
    """
    if not config.audio.react:
        return Timeline(config)
    if audio is None or own:
        where = f"{audio} has no sound" if audio is not None else "there is no soundtrack"
        raise ConfigError(f"audio.react needs a soundtrack, but {where}; pass --audio FILE or remove the reactions")
    samples = read_audio(audio, sample_rate=SAMPLE_RATE, start=start, duration=duration)
    envelopes = analyze(samples, SAMPLE_RATE, fps=fps, frames=frames, attack=config.audio.attack,
                        release=config.audio.release)
    if order is not None:
        index = np.asarray(order)
        envelopes = replace(envelopes, values={name: v[index] for name, v in envelopes.values.items()})
    timeline = Timeline(config, envelopes)
    timeline.check(envelopes.frames)
    return timeline


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _expected_frames(info: VideoInfo, *, start: float, duration: float | None, frames: int | None) -> int:
    """How many frames a render will have, for progress and preview sampling (an estimate)."""
    estimate = max(1, round(max(0.0, info.duration - start) * float(info.fps))) if not info.is_image else 1
    if duration is not None:  # as read_frames counts: the frames that start before the end of the duration
        estimate = min(estimate, max(1, math.ceil(duration * info.fps - Fraction(1, 1000))))
    return min(estimate, frames) if frames is not None else estimate
