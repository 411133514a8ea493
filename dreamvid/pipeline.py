"""Renders: ``(config, input, output) → file``. Wires the reader, model, objective, engine and writer together.

The CLI calls one function here per command; each validates what it can (output path, device,
objective) before any expensive work, reports progress through a callback and never prints.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

import dreamvid
from dreamvid.config import Config, DreamConfig, config_to_dict, save_config_json
from dreamvid.dream import Progress, dream, noise_image, resolve_device, resolve_precision
from dreamvid.images import check_output_path, read_image, to_image, to_tensor, write_image
from dreamvid.models import FeatureModel, load_model
from dreamvid.objectives import Objective, parse_objective
from dreamvid.react import Timeline
from dreamvid.schedule import is_schedule, parse_schedule

if TYPE_CHECKING:
    from dreamvid.video import VideoInfo

log = logging.getLogger(__name__)

GUIDE_MAX_SIDE = 512


@dataclass(frozen=True)
class Engine:
    """A loaded model and its parsed objectives on a device, ready to dream.

    ``objectives`` holds every objective the configuration names (one, or each value of a schedule like
    ``"0:b8, 120:b12"``), parsed up front so a bad one fails before any frame is rendered.
    """

    model: FeatureModel
    objectives: Mapping[str, Objective]
    device: torch.device

    def objective(self, text: str) -> Objective:
        """The parsed objective for ``text``, a value of ``dream.objective`` at some frame."""
        return self.objectives[text]


def sidecar_path(output: Path) -> Path:
    """Where the resolved config of ``output`` is saved: ``OUTPUT.json`` beside it (``cat.png.json``)."""
    return output.with_name(output.name + ".json")


def build_engine(config: Config) -> Engine:
    """Resolve the device and precision, load the model and parse the objective.

    Raises:
        ConfigError, ModelError, ObjectiveError, InputError: with a one-line message.
    """
    device = resolve_device(config.run.device)
    resolve_precision(config.run.precision, device)
    model = load_model(config.model.name, weights=config.model.weights or None, device=device)

    def guide_features(path: str, layer: str) -> torch.Tensor:
        guide = to_tensor(read_image(path), device=device)
        scale = GUIDE_MAX_SIDE / max(guide.shape[-2:])
        if scale < 1:
            size = (max(1, round(guide.shape[-2] * scale)), max(1, round(guide.shape[-1] * scale)))
            guide = F.interpolate(guide, size=size, mode="bilinear", antialias=True, align_corners=False)
        with torch.no_grad():
            return model(guide, [layer])[layer]

    texts = [config.dream.objective]
    if is_schedule(config.dream.objective):
        texts = [str(v) for v in parse_schedule(config.dream.objective, name="dream.objective").values]
    objectives = {
        text: parse_objective(text, default_layer=model.default_layer, layers=model.channels,
                              categories=model.categories, guide_features=guide_features)
        for text in texts
    }
    return Engine(model, objectives, device)


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
    image = read_image(input) if input is not None else None
    engine = build_engine(config)
    settings = config.at(0)
    generator = torch.Generator().manual_seed(config.run.seed)
    if image is not None:
        start = to_tensor(image, device=engine.device)
    else:
        width, height = noise_size  # type: ignore[misc]
        start = noise_image(width, height, generator=generator, device=engine.device)
    result = dream(start, engine.model, engine.objective(settings.dream.objective), settings.dream,
                   generator=generator, precision=config.run.precision, progress=progress)
    info = {
        "dreamvid": dreamvid.__version__,
        "input": str(input) if input is not None else f"noise {noise_size[0]}x{noise_size[1]}",  # type: ignore[index]
        "output": str(out),
        "device": str(engine.device),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }
    save_config_json(config, sidecar_path(out), extra=info)
    try:
        write_image(out, to_image(result))
    except BaseException:
        sidecar_path(out).unlink(missing_ok=True)
        raise
    log.debug("resolved config: %s", config_to_dict(config))
    return out


@dataclass(frozen=True)
class FrameReport:
    """What happened to one video frame: its index, how it was seeded and how long it took."""

    index: int
    seeded: bool
    scene_cut: bool
    seconds: float


def dream_frames(
    frames: Iterable[np.ndarray],
    engine: Engine,
    config: Config,
    *,
    generator: torch.Generator,
    fps: float = 30.0,
    report: Callable[[FrameReport], None] | None = None,
    timeline: Timeline | None = None,
) -> Iterator[np.ndarray]:
    """Dream a stream of frames, tying each to the last as ``config.video.coherence`` says.

    ``flow`` (default): ``I_t = F_t + carry · c ⊙ T_t(warp(D_{t−1} − F_{t−1}, b))``: only the hallucinated
    detail moves, with the backward flow ``b`` of the source frames, and only where the flow is
    reliable (``c``, the forward–backward consistency mask); disoccluded regions are dreamed fresh.
    ``T_t`` is the ``[zoom]`` feedback transform (identity by default), so the dream can drift, zoom and
    spin over the footage; ``zoom.feedback = f > 0`` also mixes in the whole previous dreamed frame:
    ``I_t ← (1 − f) · I_t + f · T_t(warp(D_{t−1}, b))`` (its colours matched to ``F_t`` by ``zoom.colour``).
    Seeded frames already carry the dream, so they get the cheaper ``seeded_octaves × seeded_steps``
    schedule; the first frame and frames after a scene cut get ``[dream]``'s full schedule.
    ``blend``: ``I_t = (1 − blend) · T_t(D_{t−1}) + blend · F_t`` dreamed with the full schedule (the peers'
    method). ``none``: every frame dreamed on its own. Schedules and audio reactions are evaluated at each
    frame's index (``timeline``; default: the schedules of ``config`` alone).

    Args:
        frames: ``(H, W, 3)`` uint8 RGB frames, all the same size.
        engine: model, objectives and device from :func:`build_engine`.
        config: the resolved configuration.
        generator: random source; the same seed gives the same video on CPU.
        fps: the clip's frame rate, for the per-second rates of ``[zoom]``.
        report: called with a :class:`FrameReport` after each frame.
        timeline: per-frame settings with audio reactions (:class:`dreamvid.react.Timeline`).

    Yields:
        The dreamed frames, ``(H, W, 3)`` uint8 RGB, frame t for input frame t.

    Raises:
        ConfigError: ``[zoom]`` moves the frames but ``video.coherence = "none"`` carries nothing to move.
    """
    from dreamvid.feedback import feedback_matrix, lab_stats, match_colour, warp_affine
    from dreamvid.flow import make_flow, reliability, scene_cut, warp

    timeline = timeline if timeline is not None else Timeline(config)
    reacting = any(r.key in ("zoom", "rotate", "shift_x", "shift_y") for r in timeline.reactions)
    if config.video.coherence == "none" and (config.zoom.moves or reacting):
        from dreamvid.errors import ConfigError

        raise ConfigError("[zoom] moves what each frame carries from the previous one, but video.coherence = "
                          "'none' carries nothing; use coherence 'flow' or 'blend', or leave [zoom] at rest")
    video = config.video
    flow = (make_flow(video.flow, weights=video.flow_weights or None, device=str(engine.device))
            if video.coherence == "flow" else None)
    prev_frame: np.ndarray | None = None
    prev_source = prev_dream = None  # float32 (H, W, 3) in [0, 1]
    for index, frame in enumerate(frames):
        started = time.perf_counter()
        at = timeline.at(index)
        cold = at.dream
        seeded = replace(cold, octaves=at.video.seeded_octaves, steps=at.video.seeded_steps)
        source = frame.astype(np.float32) / 255.0
        seed, settings, cut, weight = source, cold, False, None
        matrix = feedback_matrix(at.zoom, (frame.shape[1], frame.shape[0]), fps) if prev_frame is not None else None

        def move(image: np.ndarray) -> np.ndarray:
            if matrix is None:
                return image
            return warp_affine(image, matrix, border=at.zoom.border, filter=at.zoom.filter)

        if prev_frame is not None and video.coherence == "blend":
            seed = np.clip((1 - at.video.blend) * move(prev_dream) + at.video.blend * source, 0, 1)
        elif prev_frame is not None and flow is not None:
            backward = flow(frame, prev_frame)
            cut = video.scene_cuts and scene_cut(frame, prev_frame, backward)
            if not cut:
                mask = reliability(backward, flow(prev_frame, frame))
                carried = move(warp(prev_dream - prev_source, backward))
                if matrix is not None:
                    mask = np.clip(move(mask[..., None])[..., 0], 0, 1)
                seed = source + at.video.carry * mask[..., None] * carried
                if at.zoom.feedback > 0:
                    fed = np.clip(move(warp(prev_dream, backward)), 0, 1)
                    fed = match_colour(fed, lab_stats(source), strength=at.zoom.colour)
                    seed = (1 - at.zoom.feedback) * seed + at.zoom.feedback * fed
                seed, settings = np.clip(seed, 0, 1), seeded
                weight = torch.from_numpy(1 + at.video.fresh_boost * (1 - mask))[None, None].to(engine.device)
        dreamed = _dream_array(seed, engine, settings, config, generator=generator, weight=weight)
        prev_frame, prev_source, prev_dream = frame, source, dreamed
        if report is not None:
            report(FrameReport(index, settings is seeded, cut, time.perf_counter() - started))
        yield np.clip(dreamed * 255 + 0.5, 0, 255).astype(np.uint8)


PREVIEW_FRAMES = 8


def dream_video(
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
) -> Path:
    """Dream a clip frame by frame into ``output`` (MP4, WebM, GIF or a PNG-frames folder), with its audio.

    Frames stream from the reader through :func:`dream_frames` to the encoder; nothing but the output
    (renamed into place when complete), its ``OUTPUT.json`` settings and the optional preview sheet is
    written.

    Args:
        config: the resolved configuration (``[video]`` says how frames are tied together).
        input: anything ffmpeg reads.
        output: the output path; its extension picks the format.
        start, duration, frames: render part of the clip (seconds, seconds, a frame count).
        width: downscale to this width (height keeps the aspect, rounded to even).
        preview: write a contact sheet PNG of sampled output frames here.
        audio: a soundtrack to use instead of the clip's own (from its start): it drives ``audio.react``
            and is the output's sound.
        progress: ``progress(frames_done, frames_total)`` after each frame (the total is an estimate).

    Returns:
        The output path.
    """
    from dreamvid.video import VideoWriter, output_format, probe, read_frames

    output_format(output)
    if preview is not None:
        check_output_path(preview, extensions={".png"}, inputs=[input])
    info = probe(input)
    reader = read_frames(input, start=start, duration=duration, frames=frames, width=width, info=info)
    total = _expected_frames(info, start=start, duration=duration, frames=frames)
    timeline = _timeline(config, fps=float(info.fps), frames=total, audio=audio if audio is not None else input,
                         start=0.0 if audio is not None else start, duration=duration if audio is None else None,
                         own=audio is None and not info.has_audio)
    engine = build_engine(config)
    every = max(1, -(-total // PREVIEW_FRAMES))  # ceil: spread the samples over the clip
    sampled: list[tuple[int, np.ndarray]] = []
    first = next(iter(reader), None)
    if first is None:
        from dreamvid.errors import InputError

        raise InputError(f"{input} has no frames in the part asked for; check --start/--duration")
    size = (first.shape[1], first.shape[0])
    if progress is not None:
        progress(0, total)
    generator = torch.Generator().manual_seed(config.run.seed)
    if audio is not None:
        sound, sound_start, sound_duration = audio, 0.0, None
    else:
        sound, sound_start, sound_duration = (input if info.has_audio else None), start, duration
    with VideoWriter(output, fps=info.fps, size=size, audio_from=sound, audio_start=sound_start,
                     audio_duration=sound_duration, crf=config.video.crf, inputs=[input]) as writer:
        stream = dream_frames(_chain(first, reader), engine, config, generator=generator, fps=float(info.fps),
                              timeline=timeline)
        for index, frame in enumerate(stream):
            writer.write(frame)
            if index % every == 0 and len(sampled) < PREVIEW_FRAMES:
                sampled.append((index, frame))
            if progress is not None:
                progress(index + 1, max(total, index + 1))
        out = writer.close()
    save_config_json(config, sidecar_path(out), extra={
        "dreamvid": dreamvid.__version__, "input": str(input), "output": str(out), "start": start,
        "duration": duration, "frames": writer.frames_written, "fps": str(info.fps), "device": str(engine.device),
        "torch": torch.__version__,
    })
    if preview is not None:
        from dreamvid.images import contact_sheet

        labels = [f"frame {i}" for i, _ in sampled]
        write_image(preview, contact_sheet([f for _, f in sampled], columns=4, labels=labels))
    return out


def _timeline(
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
    from dreamvid.audio import SAMPLE_RATE, analyze
    from dreamvid.errors import ConfigError
    from dreamvid.video import read_audio

    if audio is None or own:
        where = f"{audio} has no sound" if audio is not None else "there is no soundtrack"
        raise ConfigError(f"audio.react needs a soundtrack, but {where}; pass --audio FILE or remove the reactions")
    samples = read_audio(audio, sample_rate=SAMPLE_RATE, start=start, duration=duration)
    envelopes = analyze(samples, SAMPLE_RATE, fps=fps, frames=frames, attack=config.audio.attack,
                        release=config.audio.release)
    if order is not None:
        from dataclasses import replace as _replace

        index = np.asarray(order)
        envelopes = _replace(envelopes, values={name: v[index] for name, v in envelopes.values.items()})
    timeline = Timeline(config, envelopes)
    timeline.check(envelopes.frames)
    return timeline


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest


def _expected_frames(info: VideoInfo, *, start: float, duration: float | None, frames: int | None) -> int:
    """How many frames a render will have, for progress and preview sampling (an estimate)."""
    seconds = max(0.0, info.duration - start)
    if duration is not None:
        seconds = min(seconds, duration)
    estimate = max(1, round(seconds * float(info.fps))) if not info.is_image else 1
    return min(estimate, frames) if frames is not None else estimate


def zoom_frames(
    start: np.ndarray,
    engine: Engine,
    config: Config,
    *,
    count: int,
    fps: float,
    generator: torch.Generator,
    timeline: Timeline | None = None,
) -> Iterator[np.ndarray]:
    """The endless-zoom feedback loop: frame k+1 = dream(T_k(frame k)).

    ``T_k`` is one affine resample (``[zoom]`` rates per second, schedules evaluated at frame k), followed
    by colour coherence toward the first dreamed frame. The first frame gets ``[dream]``'s full schedule,
    the rest the ``[video]`` seeded schedule (they carry the dream already); every schedule in the
    configuration (and audio reaction, with ``timeline``) is evaluated at frame k.

    Args:
        start: ``(H, W, 3)`` float32 RGB in [0, 1], the picture (or noise) to start from.
        count: how many frames to yield.

    Yields:
        ``(H, W, 3)`` float32 frames in [0, 1].
    """
    from dreamvid.feedback import feedback_matrix, lab_stats, match_colour, warp_affine

    timeline = timeline if timeline is not None else Timeline(config)
    height, width = start.shape[:2]
    current, reference = start, None
    for k in range(count):
        at = timeline.at(k)
        settings = at.dream
        if k > 0:
            matrix = feedback_matrix(at.zoom, (width, height), fps)
            if matrix is not None:
                current = np.clip(warp_affine(current, matrix, border=at.zoom.border, filter=at.zoom.filter), 0, 1)
            current = match_colour(current, reference, strength=at.zoom.colour)
            settings = replace(settings, octaves=at.video.seeded_octaves, steps=at.video.seeded_steps)
        current = _dream_array(current, engine, settings, config, generator=generator)
        if reference is None:
            reference = lab_stats(current)
        yield current


def _dream_array(
    image: np.ndarray,
    engine: Engine,
    settings: DreamConfig,
    config: Config,
    *,
    generator: torch.Generator,
    weight: torch.Tensor | None = None,
) -> np.ndarray:
    """Dream an ``(H, W, 3)`` float array in [0, 1] with ``settings``; returns a new float32 array."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)[None].to(engine.device)
    out = dream(x, engine.model, engine.objective(settings.objective), settings, generator=generator,
                precision=config.run.precision, weight=weight)
    return out[0].permute(1, 2, 0).float().cpu().numpy()


def loop_crossfade(frames: Iterable[np.ndarray], *, count: int, overlap: int) -> Iterator[np.ndarray]:
    """Make ``count`` frames that loop seamlessly out of ``count + overlap`` consecutive ones.

    The first ``overlap`` frames are held back; the last ``overlap`` output frames fade into them, so
    the clip's last frame is the held-back frame just before its first: ``out[j] = raw[overlap + j]``,
    and for the last ``overlap`` ones ``(1 − w)·raw[overlap + j] + w·raw[i]`` with ``w = (i + 1) / overlap``.
    """
    head: list[np.ndarray] = []
    for index, frame in enumerate(frames):
        if index < overlap:
            head.append(frame)
            continue
        j = index - overlap
        i = j - (count - overlap)
        if i >= 0:
            w = (i + 1) / overlap
            frame = (1 - w) * frame + w * head[i]
        yield frame
        if j + 1 == count:
            return


def dream_zoom(
    config: Config,
    output: str | os.PathLike,
    *,
    fps: Fraction,
    frames: int | None = None,
    input: str | os.PathLike | None = None,
    size: tuple[int, int] | None = None,
    loop: float = 0.0,
    audio: str | os.PathLike | None = None,
    audio_start: float = 0.0,
    duration: float | None = None,
    progress: Progress | None = None,
) -> Path:
    """Render an endless-zoom clip from a picture (or noise of ``size``) into ``output``.

    With ``audio`` it is a music visualizer: as long as the song (or ``duration``), the song in the
    output, and ``audio.react`` driving the settings frame by frame.

    Args:
        fps: frame rate; motion rates are per second so the motion is the same at any fps.
        frames: frames in the output; default the length of ``audio`` (or ``duration``), else 120.
        input: the start picture; ``None`` starts from noise.
        size: ``(width, height)``: resize the picture to it, or the size of the noise.
        loop: seconds of crossfade from the end into the start, so the clip loops without a jump.
        audio: a song (WAV, MP3, FLAC, M4A, or a video's soundtrack).
        audio_start, duration: the part of the song to use, in seconds.

    Returns:
        The output path.
    """
    from dreamvid.errors import ConfigError
    from dreamvid.video import VideoWriter, output_format, read_audio

    output_format(output)
    if audio is None and (audio_start or duration is not None):
        raise ConfigError("--start and --duration choose a part of the song: give it with --audio FILE")
    if audio is not None and frames is None:
        seconds = duration
        if seconds is None:
            from dreamvid.audio import SAMPLE_RATE

            seconds = len(read_audio(audio, sample_rate=SAMPLE_RATE, start=audio_start)) / SAMPLE_RATE
        frames = max(1, math.ceil(seconds * float(fps) - 1e-9))
    elif audio is not None:  # check the song early even when nothing reacts to it
        read_audio(audio, start=audio_start, duration=0.1)
    frames = 120 if frames is None else frames
    if frames < 1:
        raise ConfigError(f"--frames must be at least 1, got {frames}")
    overlap = round(loop * float(fps))
    if loop < 0 or overlap >= frames:
        raise ConfigError(f"--loop must be from 0 to less than the clip's length ({frames / float(fps):.2f} s), got {loop}")
    # rendered frame i is output frame i - overlap; the first `overlap` are shown in the closing crossfade
    order = [frames - overlap + i for i in range(overlap)] + list(range(frames))
    timeline = _timeline(config, fps=float(fps), frames=frames, audio=audio, start=audio_start,
                         duration=duration, order=order)
    inputs = [input] if input is not None else []
    if input is not None:
        picture = read_image(input)
        if size is not None:
            import cv2

            picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
        start = picture.astype(np.float32) / 255
    else:
        width, height = size or (512, 512)
        start = noise_image(width, height, generator=torch.Generator().manual_seed(config.run.seed))[0].permute(1, 2, 0).numpy()
    engine = build_engine(config)
    generator = torch.Generator().manual_seed(config.run.seed)
    raw = zoom_frames(start, engine, config, count=frames + overlap, fps=float(fps), generator=generator,
                      timeline=timeline)
    stream = loop_crossfade(raw, count=frames, overlap=overlap) if overlap else raw
    height, width = start.shape[:2]
    if progress is not None:
        progress(0, frames)
    with VideoWriter(output, fps=fps, size=(width, height), crf=config.video.crf, inputs=inputs,
                     audio_from=audio, audio_start=audio_start, audio_duration=duration) as writer:
        for index, frame in enumerate(stream):
            writer.write(np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8))
            if progress is not None:
                progress(index + 1, frames)
        out = writer.close()
    save_config_json(config, sidecar_path(out), extra={
        "dreamvid": dreamvid.__version__, "input": str(input) if input else f"noise {width}x{height}",
        "output": str(out), "frames": frames, "fps": str(fps), "loop": loop, "device": str(engine.device),
        "audio": str(audio) if audio is not None else None, "audio_start": audio_start,
    })
    return out
