"""The studio's three renders as generator handlers: ``(upload, fields, request) → Iterator[page updates]``.

Each handler resolves the settings (:mod:`dreamvid.ui.forms`), copies its uploads into the session's
folder (:mod:`dreamvid.ui.workspace`), runs one render per seed of the batch box through
:func:`dreamvid.ui.jobs.watch` and yields ``(status, preview, output, download, settings, batch files)``.
A :class:`~dreamvid.errors.DreamvidError` becomes ``gr.Error`` with its one-line message; a stopped render
ends with a status line saying how to resume it (its checkpoint stays in the session folder).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction
from pathlib import Path

import gradio as gr

from dreamvid.config import config_to_dict
from dreamvid.errors import ConfigError, DreamvidError, RenderStopped
from dreamvid.images import parse_fps, parse_size
from dreamvid.pipeline import dream_image, render_video, render_zoom
from dreamvid.settings import Config
from dreamvid.ui.forms import build_config, preset_toml
from dreamvid.ui.jobs import watch
from dreamvid.ui.workspace import keep_upload, session_dir

MAX_BATCH = 16
"""Renders one batch box may ask for."""


class Studio:
    """What the handlers share: the root folder of the session folders and each session's stop event.

    A session is the browser's workspace token (kept in its local storage, so a page reload finds its
    folder and Resume still works), else Gradio's session of the page or API client.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def folder(self, request: gr.Request | None, workspace: str | None = None) -> Path:
        """The session folder of the page (or API client) that made ``request``."""
        return session_dir(self.root, _session(request, workspace))

    def stop_event(self, request: gr.Request | None, workspace: str | None = None) -> threading.Event:
        """A fresh stop event for the session's next render."""
        event = threading.Event()
        with self._lock:
            self._stops[_session(request, workspace)] = event
        return event

    def stop(self, workspace: str | None = None, request: gr.Request | None = None) -> str:
        """Stop the session's render before its next frame (its checkpoint is kept for Resume)."""
        with self._lock:
            event = self._stops.get(_session(request, workspace))
        if event is None:
            return "nothing is rendering"
        event.set()
        return "stopping after the frame in progress"

    def save_preset(self, settings: Mapping | None, workspace: str | None = None,
                    request: gr.Request | None = None) -> str:
        """Write the settings shown (the last render's) as a preset file in the session folder; its path."""
        if not settings:
            raise gr.Error("render something first: the preset is made from the settings of the last render")
        config = _config_of(settings)
        target = self.folder(request, workspace) / "dreamvid-preset.toml"
        target.write_text(preset_toml(config), encoding="utf-8")
        return str(target)


def _session(request: gr.Request | None, workspace: str | None = None) -> str:
    if workspace:
        return "workspace:" + str(workspace)
    return "session:" + str(getattr(request, "session_hash", None) or "none")


def _config_of(settings: Mapping) -> Config:
    from dreamvid.config import config_from_dict

    try:
        return config_from_dict({key: value for key, value in settings.items() if isinstance(value, Mapping)},
                                source="the settings shown")
    except DreamvidError as exc:
        raise gr.Error(str(exc)) from None


def seeds_of(batch: str | None) -> list[int | None]:
    """The seeds of the batch box (``"1, 2, 5-7"``); ``[None]`` (the seed field's) when it is empty.

    Example:
        >>> seeds_of("1, 2, 5-7"), seeds_of("")
        ([1, 2, 5, 6, 7], [None])
    """
    text = (batch or "").strip()
    if not text:
        return [None]
    seeds: list[int | None] = []
    for part in re.split(r"[,\s]+", text):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if match is None:
            raise ConfigError(f"the batch box takes seeds like 1, 2, 5-7, got {part!r}")
        low, high = int(match[1]), int(match[2] or match[1])
        seeds += list(range(low, high + 1))
    if not 0 < len(seeds) <= MAX_BATCH:
        raise ConfigError(f"a batch is 1 to {MAX_BATCH} renders, got {len(seeds)}")
    return seeds


Updates = tuple[object, object, object, object, object, object]


def run_batch(studio: Studio, request: gr.Request | None, workspace: str | None, *, kind: str, unit: str, suffix: str,
              preset: str | None, fields: dict[str, object], advanced: str | None, batch: str | None,
              render: Callable[[Config, Path, Callable, threading.Event], Path],
              uploads: Mapping[Path | None, str | None] | None = None) -> Iterator[Updates]:
    """Render once per seed of ``batch`` with ``render(config, output, progress, stop)``, yielding page updates.

    ``uploads`` maps the session copies of the uploads to the names they were uploaded with, so an error
    names the file the user gave, never a server path.
    """
    try:
        seeds = seeds_of(batch)
        configs = [build_config(preset, {**fields, **({"seed": s} if s is not None else {})}, advanced) for s in seeds]
    except DreamvidError as exc:
        raise gr.Error(str(exc)) from None
    folder, done = studio.folder(request, workspace), []
    preview, output, settings = None, None, None
    for number, config in enumerate(configs, start=1):
        target = folder / f"{kind}-seed{config.run.seed}{suffix}"
        stop = studio.stop_event(request, workspace)
        label = f"render {number}/{len(configs)}, seed {config.run.seed}" if len(configs) > 1 else ""
        for report in watch(lambda progress, stop, c=config, t=target: render(c, t, progress, stop), unit=unit,
                            stop=stop, label=label):
            preview = report.preview if report.preview is not None else preview
            if not report.done:
                yield report.status, preview, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                continue
            if isinstance(report.error, RenderStopped):
                yield (f"stopped after {report.error.frames_done} frames; press Resume to finish (same settings)",
                       preview, gr.skip(), gr.skip(), gr.skip(), [str(p) for p in done] or gr.skip())
                return
            if isinstance(report.error, DreamvidError):
                raise gr.Error(_shown(str(report.error), folder, uploads or {})) from None
            if report.error is not None:
                raise report.error
            output, settings = report.output, config_to_dict(config)
            done.append(output)
            if kind == "picture":
                preview = str(output)
            yield (f"{report.status} · done: {output.name}" if report.status else f"done: {output.name}",
                   preview, str(output), str(output), settings, [str(p) for p in done])


def _shown(message: str, folder: Path, uploads: Mapping[Path | None, str | None]) -> str:
    """``message`` with each upload's server path replaced by its name, and the session folder left out."""
    for path, name in uploads.items():
        if path is not None and name:
            message = message.replace(str(path), Path(name).name)
    return message.replace(str(folder) + os.sep, "").replace(str(folder), "the session folder")


def _upload(path: str | None, folder: Path) -> Path | None:
    try:
        return keep_upload(path, folder) if path else None
    except DreamvidError as exc:
        raise gr.Error(str(exc)) from None


def _fields(**values: object) -> dict[str, object]:
    return {name: value for name, value in values.items() if value is not None and value != ""}


def picture_handler(studio: Studio):
    """The Picture tab's handler (API ``/dream_image``)."""

    def dream_image_api(picture: str | None = None, preset: str = "classic", objective: str | None = None,
                        seed: float | None = None, steps: float | None = None, step_size: float | None = None,
                        octaves: float | None = None, noise_size: str = "512x512", vr360: bool = False,
                        advanced: str | None = None, batch: str | None = None, workspace: str | None = None,
                        request: gr.Request = None) -> Iterator[Updates]:
        source = _upload(picture, studio.folder(request, workspace))
        try:
            size = parse_size(noise_size or "512x512") if source is None else None
        except DreamvidError as exc:
            raise gr.Error(str(exc)) from None

        def render(config: Config, target: Path, progress: Callable, stop: threading.Event) -> Path:
            return dream_image(config, target, input=source, noise_size=size, progress=progress)

        fields = _fields(objective=objective, seed=seed, steps=steps, step_size=step_size, octaves=octaves,
                         vr360=vr360)
        yield from run_batch(studio, request, workspace, kind="picture", unit="step", suffix=".png", preset=preset,
                             fields=fields, advanced=advanced, batch=batch, render=render,
                             uploads={source: picture})

    return dream_image_api


def video_handler(studio: Studio):
    """The Video tab's handler (API ``/render_video``)."""

    def render_video_api(video: str | None = None, preset: str = "video", objective: str | None = None,
                         seed: float | None = None, steps: float | None = None, step_size: float | None = None,
                         octaves: float | None = None, carry: float | None = None, frames: float | None = None,
                         width: float | None = None, soundtrack: str | None = None, reactions: str | None = None,
                         vr360: bool = False, stereo: str = "", advanced: str | None = None, batch: str | None = None,
                         resume: bool = False, workspace: str | None = None,
                         request: gr.Request = None) -> Iterator[Updates]:
        folder = studio.folder(request, workspace)
        if not video:
            raise gr.Error("upload a clip to dream")
        source, sound = _upload(video, folder), _upload(soundtrack, folder)

        def render(config: Config, target: Path, progress: Callable, stop: threading.Event) -> Path:
            return render_video(config, source, target, frames=_count(frames), width=_count(width), audio=sound,
                                progress=progress, stop=stop, resume=resume, restart=not resume)

        fields = _fields(objective=objective, seed=seed, steps=steps, step_size=step_size, octaves=octaves,
                         carry=carry, reactions=reactions, vr360=vr360, stereo=stereo)
        yield from run_batch(studio, request, workspace, kind="video", unit="frame", suffix=".mp4", preset=preset,
                             fields=fields, advanced=advanced, batch=batch, render=render,
                             uploads={source: video, sound: soundtrack})

    return render_video_api


def zoom_handler(studio: Studio):
    """The Zoom loop tab's handler (API ``/render_zoom``)."""

    def render_zoom_api(picture: str | None = None, preset: str = "endless-zoom", objective: str | None = None,
                        seed: float | None = None, steps: float | None = None, step_size: float | None = None,
                        octaves: float | None = None, zoom: float | None = None, rotate: float | None = None,
                        frames: float | None = 120, fps: str = "30", size: str = "", loop: float = 0.0,
                        soundtrack: str | None = None, reactions: str | None = None, vr360: bool = False,
                        stereo: str = "", advanced: str | None = None, batch: str | None = None, resume: bool = False,
                        workspace: str | None = None, request: gr.Request = None) -> Iterator[Updates]:
        folder = studio.folder(request, workspace)
        source, sound = _upload(picture, folder), _upload(soundtrack, folder)
        try:
            rate = parse_fps(str(fps or "30"))
            frame_size = parse_size(size) if size else None
        except DreamvidError as exc:
            raise gr.Error(str(exc)) from None

        def render(config: Config, target: Path, progress: Callable, stop: threading.Event) -> Path:
            return render_zoom(config, target, fps=Fraction(rate), frames=_count(frames), input=source,
                               size=frame_size, loop=float(loop or 0), audio=sound, progress=progress, stop=stop,
                               resume=resume, restart=not resume)

        fields = _fields(objective=objective, seed=seed, steps=steps, step_size=step_size, octaves=octaves,
                         zoom=zoom, rotate=rotate, reactions=reactions, vr360=vr360, stereo=stereo)
        yield from run_batch(studio, request, workspace, kind="zoom", unit="frame", suffix=".mp4", preset=preset,
                             fields=fields, advanced=advanced, batch=batch, render=render,
                             uploads={source: picture, sound: soundtrack})

    return render_zoom_api


def _count(value: float | None) -> int | None:
    """A frame count or width from a number field (empty: ``None``)."""
    return None if value is None or value == "" else int(value)
