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
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import islice
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
from dreamvid.runtime import runtime_info
from dreamvid.schedule import is_schedule, parse_schedule

if TYPE_CHECKING:
    from dreamvid.checkpoint import Checkpoint
    from dreamvid.panorama import Layout
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
    from dreamvid.panorama import Layout, check_layout_size, dream_layout, resolve_layout

    layout = resolve_layout(config.vr, None, (start.shape[-1], start.shape[-2]), source=str(input or "the noise"))
    check_layout_size(layout, (start.shape[-1], start.shape[-2]))
    if layout == Layout():
        result = dream(start, engine.model, engine.objective(settings.dream.objective), settings.dream,
                       generator=generator, precision=config.run.precision, progress=progress,
                       max_memory=config.run.max_memory_bytes)
    else:  # numpy from here on, one full-size float frame at a time (8K panoramas: 354 MB each)
        picture = np.ascontiguousarray(start[0].permute(1, 2, 0).float().cpu().numpy())
        del start, image
        touch_up = replace(settings.dream, octaves=settings.video.seeded_octaves, steps=settings.video.seeded_steps)
        result = dream_layout(picture, picture, engine, settings.dream, config, layout=layout, generator=generator,
                              touch_up=touch_up)
        del picture
        result *= 255
        result += 0.5
        result = np.clip(result, 0, 255, out=result).astype(np.uint8)
    info = {
        "dreamvid": dreamvid.__version__,
        "input": str(input) if input is not None else f"noise {noise_size[0]}x{noise_size[1]}",  # type: ignore[index]
        "output": str(out),
        "device": str(engine.device),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        **runtime_info(),
    }
    save_config_json(config, sidecar_path(out), extra=info)
    try:
        write_image(out, to_image(result) if isinstance(result, torch.Tensor) else result)
    except BaseException:
        sidecar_path(out).unlink(missing_ok=True)
        raise
    log.debug("resolved config: %s", config_to_dict(config))
    return out


@dataclass(frozen=True)
class Carry:
    """What video frame ``index`` takes from the frame before it: that source frame and its dream.

    A render that stopped after frame ``index - 1`` continues exactly from a saved Carry (with the random
    generator's state): :func:`dream_frames` then starts at input frame ``index``.

    Attributes:
        index: the next frame's index.
        frame: the last source frame, ``(H, W, 3)`` uint8 RGB.
        dream: the last dreamed frame, ``(H, W, 3)`` float32 in [0, 1] (not rounded to 8 bits).
    """

    index: int
    frame: np.ndarray
    dream: np.ndarray


@dataclass(frozen=True)
class FrameReport:
    """What happened to one video frame: its index, how it was seeded and how long it took.

    ``carry`` is what the next frame takes from this one (to checkpoint a render).
    """

    index: int
    seeded: bool
    scene_cut: bool
    seconds: float
    carry: Carry | None = None


def dream_frames(
    frames: Iterable[np.ndarray],
    engine: Engine,
    config: Config,
    *,
    generator: torch.Generator,
    fps: float = 30.0,
    report: Callable[[FrameReport], None] | None = None,
    timeline: Timeline | None = None,
    carry: Carry | None = None,
    layout: Layout | None = None,
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
        carry: continue a render from :attr:`FrameReport.carry` of its last frame: ``frames`` then starts
            at input frame ``carry.index`` (and ``generator`` has the state it had after that frame).
        layout: flat or equirect, mono or stereo (:class:`dreamvid.panorama.Layout`; default flat mono):
            flow, warps, feedback transforms and the dream itself work eye by eye, across the seam of
            equirect eyes, and the right eye takes the left eye's dream (:func:`dreamvid.panorama.dream_layout`).

    Yields:
        The dreamed frames, ``(H, W, 3)`` uint8 RGB, frame t for input frame t.

    Raises:
        ConfigError: ``[zoom]`` moves the frames but ``video.coherence = "none"`` carries nothing to move.
    """
    from dreamvid.feedback import lab_stats, match_colour
    from dreamvid.flow import make_flow, scene_cut
    from dreamvid.panorama import Layout, dream_layout, eye_flows, eye_reliability, follow, mover

    layout = layout if layout is not None else Layout()
    timeline = timeline if timeline is not None else Timeline(config)
    reacting = any(r.key in ("zoom", "rotate", "shift_x", "shift_y") for r in timeline.reactions)
    if config.video.coherence == "none" and (config.zoom.moves or reacting):
        from dreamvid.errors import ConfigError

        raise ConfigError("[zoom] moves what each frame carries from the previous one, but video.coherence = "
                          "'none' carries nothing; use coherence 'flow' or 'blend', or leave [zoom] at rest")
    video = config.video
    flow = (make_flow(video.flow, weights=video.flow_weights or None, device=str(engine.device),
                      wrap_x=layout.equirect)
            if video.coherence == "flow" else None)
    prev_frame: np.ndarray | None = carry.frame if carry is not None else None
    prev_dream = carry.dream if carry is not None else None  # float32 (H, W, 3) in [0, 1], like prev_source
    prev_source = prev_frame.astype(np.float32) / 255.0 if prev_frame is not None else None
    for index, frame in enumerate(frames, start=carry.index if carry is not None else 0):
        started = time.perf_counter()
        at = timeline.at(index)
        cold = at.dream
        seeded = replace(cold, octaves=at.video.seeded_octaves, steps=at.video.seeded_steps)
        source = frame.astype(np.float32) / 255.0
        seed, settings, cut, weight = source, cold, False, None
        transform = mover(at.zoom, layout, (frame.shape[1], frame.shape[0]), fps) if prev_frame is not None else None

        def move(image: np.ndarray) -> np.ndarray:
            return image if transform is None else transform(image)

        if prev_frame is not None and video.coherence == "blend":
            seed = np.clip((1 - at.video.blend) * move(prev_dream) + at.video.blend * source, 0, 1)
        elif prev_frame is not None and flow is not None:
            backward = eye_flows(flow, frame, prev_frame, layout)
            cut = video.scene_cuts and scene_cut(layout.split(frame)[0], layout.split(prev_frame)[0], backward[0],
                                                 wrap_x=layout.equirect)
            if not cut:
                mask = eye_reliability(flow, frame, prev_frame, backward, layout)
                carried = move(follow(prev_dream - prev_source, backward, layout))
                if transform is not None:
                    mask = np.clip(move(mask[..., None])[..., 0], 0, 1)
                seed = source + at.video.carry * mask[..., None] * carried
                if at.zoom.feedback > 0:
                    fed = np.clip(move(follow(prev_dream, backward, layout)), 0, 1)
                    fed = match_colour(fed, lab_stats(source), strength=at.zoom.colour)
                    seed = (1 - at.zoom.feedback) * seed + at.zoom.feedback * fed
                seed, settings = np.clip(seed, 0, 1), seeded
                weight = (1 + at.video.fresh_boost * (1 - mask)).astype(np.float32)
        dreamed = dream_layout(seed, source, engine, settings, config, layout=layout, generator=generator,
                               weight=weight, touch_up=seeded, flow=flow)
        prev_frame, prev_source, prev_dream = frame, source, dreamed
        if report is not None:
            report(FrameReport(index, settings is seeded, cut, time.perf_counter() - started,
                               Carry(index + 1, frame, dreamed)))
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
    resume: bool = False,
    restart: bool = False,
) -> Path:
    """Dream a clip frame by frame into ``output`` (MP4, WebM, GIF or a PNG-frames folder), with its audio.

    Frames stream from the reader through :func:`dream_frames` into a :class:`~dreamvid.checkpoint.Checkpoint`
    beside the output, which keeps them (and, after each frame, what the next one needs) until the output
    is joined and renamed into place; then only the output, its ``OUTPUT.json`` settings and the optional
    preview sheet remain. An interrupted render continues with ``resume``, frame for frame as if it had
    never stopped.

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
        resume: continue the checkpoint of an interrupted render of ``output`` (same settings and input).
        restart: discard such a checkpoint and start over.

    Returns:
        The output path.

    Raises:
        CheckpointError: a checkpoint exists but neither ``resume`` nor ``restart`` is set, or it was made
            with other settings (the message names them).
    """
    from dreamvid.checkpoint import Checkpoint
    from dreamvid.video import output_format, probe, read_frames

    output_format(output)
    if preview is not None:
        check_output_path(preview, extensions={".png"}, inputs=[input])
    info = probe(input)
    reader = read_frames(input, start=start, duration=duration, frames=frames, width=width, info=info)
    total = _expected_frames(info, start=start, duration=duration, frames=frames)
    timeline = _timeline(config, fps=float(info.fps), frames=total, audio=audio if audio is not None else input,
                         start=0.0 if audio is not None else start, duration=duration if audio is None else None,
                         own=audio is None and not info.has_audio)
    frames_in = iter(reader)
    first = next(frames_in, None)
    if first is None:
        from dreamvid.errors import InputError

        raise InputError(f"{input} has no frames in the part asked for; check --start/--duration")
    if audio is not None:
        sound, sound_start, sound_duration = audio, 0.0, None
    else:
        sound, sound_start, sound_duration = (input if info.has_audio else None), start, duration
    identity = _identity(config, "video", inputs={"input": input, "--audio": audio},
                         arguments={"--start": start, "--duration": duration, "--frames": frames, "--width": width})
    layout = _layout(config, (first.shape[1], first.shape[0]), input=input)
    checkpoint = Checkpoint(output, identity=identity, resume=resume, restart=restart, writer=dict(
        fps=info.fps, size=(first.shape[1], first.shape[0]), audio_from=sound, audio_start=sound_start,
        audio_duration=sound_duration, crf=config.video.crf, inputs=[input], spherical=_spherical(config, layout)))
    with checkpoint:
        engine = build_engine(config)
        _render_video(checkpoint, _chain(first, frames_in), engine, config, fps=float(info.fps), total=total,
                      timeline=timeline, layout=layout, progress=progress)
        out = checkpoint.finish()
        save_config_json(config, sidecar_path(out), extra={
            "dreamvid": dreamvid.__version__, "input": str(input), "output": str(out), "start": start,
            "duration": duration, "frames": checkpoint.frames_done, "fps": str(info.fps), "device": str(engine.device),
            "torch": torch.__version__,
            **runtime_info(),
        })
        if preview is not None:
            from dreamvid.images import contact_sheet

            sampled = checkpoint.kept("preview_")
            labels = [f"frame {int(name.removeprefix('preview_'))}" for name, _ in sampled]
            write_image(preview, contact_sheet([f for _, f in sampled], columns=4, labels=labels))
        checkpoint.remove()
    return out


def _render_video(
    checkpoint: Checkpoint,
    frames: Iterator[np.ndarray],
    engine: Engine,
    config: Config,
    *,
    fps: float,
    total: int,
    timeline: Timeline,
    layout: Layout,
    progress: Progress | None,
) -> None:
    """Dream the clip's ``frames`` into ``checkpoint``, from the frame where it stands.

    The frames already done are decoded and skipped; the first new frame continues from the checkpoint's
    :class:`Carry` and generator state. After each frame the checkpoint records it, what the next frame
    needs and the generator's state; every ``total / PREVIEW_FRAMES``-th frame is kept for the preview.
    """
    generator = torch.Generator().manual_seed(config.run.seed)
    done = checkpoint.frames_done
    carry = None
    if done:
        carry = Carry(done, checkpoint.state["frame"], checkpoint.state["dream"])
        generator.set_state(torch.from_numpy(checkpoint.state["generator"]))
    every = max(1, -(-total // PREVIEW_FRAMES))  # ceil: spread the samples over the clip
    if progress is not None:
        progress(done, max(total, done))
    last: deque[FrameReport] = deque(maxlen=1)
    stream = dream_frames(islice(frames, done, None), engine, config, generator=generator, fps=fps,
                          timeline=timeline, report=last.append, carry=carry, layout=layout)
    for index, frame in enumerate(stream, start=done):
        checkpoint.write(frame)
        if index % every == 0 and index // every < PREVIEW_FRAMES:
            checkpoint.keep(f"preview_{index:06d}", frame)
        after = last[0].carry
        checkpoint.save({"frame": after.frame, "dream": after.dream, "generator": generator.get_state().numpy()})
        if progress is not None:
            progress(index + 1, max(total, index + 1))


def _layout(config: Config, size: tuple[int, int], *, input: str | os.PathLike | None) -> Layout:
    """The frame layout: ``[vr]``, with ``auto`` read from the input's spherical metadata."""
    from dreamvid.panorama import check_layout_size, resolve_layout

    metadata = None
    if input is not None and "auto" in (config.vr.projection, config.vr.stereo) and Path(input).is_file():
        from dreamvid.spherical import read_spherical

        metadata = read_spherical(input)  # None for files without it, and for other formats than MP4/MOV
    layout = resolve_layout(config.vr, metadata, size, source=str(input) if input is not None else "the noise")
    check_layout_size(layout, size)
    if layout.equirect or layout.eyes > 1:
        log.info("dreaming %s frames", layout.describe())
    return layout


def _spherical(config: Config, layout: Layout) -> tuple[str, str] | None:
    """What the output's spherical metadata says (``VideoWriter(spherical=...)``), or ``None`` for flat frames."""
    return (layout.projection, layout.stereo) if layout.equirect and config.vr.metadata else None


def _identity(
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
    from dreamvid.checkpoint import file_identity

    identity: dict[str, object] = {"command": command, "dreamvid": dreamvid.__version__, "torch": torch.__version__,
                                   "device": str(resolve_device(config.run.device))}
    identity.update({name: file_identity(path) if path is not None else None for name, path in inputs.items()})
    identity.update(arguments)
    identity.update({f"{table}.{key}": value for table, values in config_to_dict(config).items()
                     for key, value in values.items()})
    return identity


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
    resume_at: int = 0,
    first: np.ndarray | None = None,
    layout: Layout | None = None,
) -> Iterator[np.ndarray]:
    """The endless-zoom feedback loop: frame k+1 = dream(T_k(frame k)).

    ``T_k`` is one affine resample (``[zoom]`` rates per second, schedules evaluated at frame k), followed
    by colour coherence toward the first dreamed frame. The first frame gets ``[dream]``'s full schedule,
    the rest the ``[video]`` seeded schedule (they carry the dream already); every schedule in the
    configuration (and audio reaction, with ``timeline``) is evaluated at frame k.

    Args:
        start: ``(H, W, 3)`` float32 RGB in [0, 1], the picture (or noise) to start from; when resuming,
            frame ``resume_at - 1`` as yielded before.
        count: how many frames the loop has (frames ``resume_at`` to ``count - 1`` are yielded).
        resume_at: continue an interrupted loop at this frame (``generator`` in the state it had then).
        first: when resuming, frame 0 as yielded before (its colours are the reference).
        layout: flat or equirect, mono or stereo (:class:`dreamvid.panorama.Layout`): equirect frames
            move on the sphere (zoom toward the front, roll, yaw, pitch) and wrap at the seam.

    Yields:
        ``(H, W, 3)`` float32 frames in [0, 1].
    """
    from dreamvid.feedback import lab_stats, match_colour
    from dreamvid.panorama import Layout, dream_layout, mover

    layout = layout if layout is not None else Layout()
    if resume_at > 0 and first is None:
        raise ValueError("resuming the zoom loop needs its first frame (first=...)")
    timeline = timeline if timeline is not None else Timeline(config)
    height, width = start.shape[:2]
    current, reference = start, (lab_stats(first) if resume_at > 0 else None)
    for k in range(resume_at, count):
        at = timeline.at(k)
        settings = at.dream
        if k > 0:
            transform = mover(at.zoom, layout, (width, height), fps)
            if transform is not None:
                current = np.clip(transform(current), 0, 1)
            current = match_colour(current, reference, strength=at.zoom.colour)
            settings = replace(settings, octaves=at.video.seeded_octaves, steps=at.video.seeded_steps)
        touch_up = replace(at.dream, octaves=at.video.seeded_octaves, steps=at.video.seeded_steps)
        current = dream_layout(current, current, engine, settings, config, layout=layout, generator=generator,
                               touch_up=touch_up)
        if reference is None:
            reference = lab_stats(current)
        yield current


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
        yield _fade_into_head(frame, j, head, count=count)
        if j + 1 == count:
            return


def _fade_into_head(frame: np.ndarray, j: int, head: Sequence[np.ndarray], *, count: int) -> np.ndarray:
    """Output frame ``j`` of :func:`loop_crossfade`: ``frame`` itself, or faded into ``head`` near the end."""
    overlap = len(head)
    i = j - (count - overlap)
    if i < 0:
        return frame
    w = (i + 1) / overlap
    return (1 - w) * frame + w * head[i]


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
    resume: bool = False,
    restart: bool = False,
) -> Path:
    """Render an endless-zoom clip from a picture (or noise of ``size``) into ``output``.

    With ``audio`` it is a music visualizer: as long as the song (or ``duration``), the song in the
    output, and ``audio.react`` driving the settings frame by frame. Frames go through a
    :class:`~dreamvid.checkpoint.Checkpoint` beside the output, as in :func:`dream_video`, so an
    interrupted render continues with ``resume``.

    Args:
        fps: frame rate; motion rates are per second so the motion is the same at any fps.
        frames: frames in the output; default the length of ``audio`` (or ``duration``), else 120.
        input: the start picture; ``None`` starts from noise.
        size: ``(width, height)``: resize the picture to it, or the size of the noise.
        loop: seconds of crossfade from the end into the start, so the clip loops without a jump.
        audio: a song (WAV, MP3, FLAC, M4A, or a video's soundtrack).
        audio_start, duration: the part of the song to use, in seconds.
        resume: continue the checkpoint of an interrupted render of ``output`` (same settings and input).
        restart: discard such a checkpoint and start over.

    Returns:
        The output path.

    Raises:
        CheckpointError: a checkpoint exists but neither ``resume`` nor ``restart`` is set, or it was made
            with other settings (the message names them).
    """
    from dreamvid.checkpoint import Checkpoint
    from dreamvid.errors import ConfigError
    from dreamvid.video import output_format, read_audio

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
    start = _zoom_start(config, input, size)
    height, width = start.shape[:2]
    identity = _identity(config, "zoom", inputs={"input": input, "--audio": audio}, arguments={
        "--size": [width, height], "--fps": str(fps), "--frames": frames, "--loop": loop, "--start": audio_start,
        "--duration": duration})
    layout = _layout(config, (width, height), input=input)
    checkpoint = Checkpoint(output, identity=identity, resume=resume, restart=restart, writer=dict(
        fps=fps, size=(width, height), crf=config.video.crf, inputs=[input] if input is not None else [],
        audio_from=audio, audio_start=audio_start, audio_duration=duration, spherical=_spherical(config, layout)))
    with checkpoint:
        engine = build_engine(config)
        generator = torch.Generator().manual_seed(config.run.seed)
        _render_zoom(checkpoint, start, engine, config, fps=fps, count=frames, overlap=overlap, generator=generator,
                     timeline=timeline, progress=progress, layout=layout)
        out = checkpoint.finish()
        save_config_json(config, sidecar_path(out), extra={
            "dreamvid": dreamvid.__version__, "input": str(input) if input else f"noise {width}x{height}",
            "output": str(out), "frames": frames, "fps": str(fps), "loop": loop, "device": str(engine.device),
            "audio": str(audio) if audio is not None else None, "audio_start": audio_start,
            **runtime_info(),
        })
        checkpoint.remove()
    return out


def _zoom_start(config: Config, input: str | os.PathLike | None, size: tuple[int, int] | None) -> np.ndarray:
    """The zoom's start: the picture (resized to ``size``), or noise of ``size`` (512×512) from the seed."""
    if input is not None:
        picture = read_image(input)
        if size is not None:
            import cv2

            picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
        return picture.astype(np.float32) / 255
    width, height = size or (512, 512)
    return noise_image(width, height, generator=torch.Generator().manual_seed(config.run.seed))[0].permute(1, 2, 0).numpy()


def _render_zoom(
    checkpoint: Checkpoint,
    start: np.ndarray,
    engine: Engine,
    config: Config,
    *,
    fps: Fraction,
    count: int,
    overlap: int,
    generator: torch.Generator,
    timeline: Timeline,
    progress: Progress | None,
    layout: Layout | None = None,
) -> None:
    """Render the zoom's ``overlap + count`` raw frames into ``checkpoint``, from where it stands.

    Raw frame ``r`` is output frame ``r - overlap``; the first ``overlap`` are kept for the closing
    crossfade (:func:`loop_crossfade`). After each raw frame the checkpoint records it (the next frame
    starts from it) and the generator's state; raw frame 0 is kept too (the colour reference).
    """
    done = int(checkpoint.state.get("raw_done", 0))
    first = None
    if done:
        start = checkpoint.state["current"]
        generator.set_state(torch.from_numpy(checkpoint.state["generator"]))
        first = checkpoint.kept("first")[0][1]
    head = [frame for _, frame in checkpoint.kept("head_")[:min(done, overlap)]]
    if progress is not None:
        progress(checkpoint.frames_done, count)
    raw = zoom_frames(start, engine, config, count=count + overlap, fps=float(fps), generator=generator,
                      timeline=timeline, resume_at=done, first=first, layout=layout)
    for r, current in enumerate(raw, start=done):
        if r == 0:
            checkpoint.keep("first", current)
        if r < overlap:
            head.append(current)
            checkpoint.keep(f"head_{r:06d}", current)
        else:
            frame = _fade_into_head(current, r - overlap, head, count=count)
            checkpoint.write(np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8))
        checkpoint.save({"raw_done": np.int64(r + 1), "current": current, "generator": generator.get_state().numpy()})
        if progress is not None and r >= overlap:
            progress(r - overlap + 1, count)
