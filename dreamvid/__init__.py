"""dreamvid: DeepDream for pictures, videos, endless zooms, music videos and 360° footage.

The Python API (everything is typed and documented; ``help(dreamvid.render_video)``)::

    load_config(preset=None, overrides=())       → Config (defaults < preset < "table.key=value" overrides)
    Config                                        the frozen, validated settings (one table per TOML table)
    dream(image, config=None)                     → the image dreamed: a tensor (1,3,H,W)/(3,H,W) or a
                                                    numpy (H,W,3) uint8/float image in, the same type out
    dream_image(config, output, input=...)        → Path: a picture file dreamed into another
    render_video(config, input, output, ...)      → Path: a clip dreamed frame by frame, flow-coherent
    render_zoom(config, output, fps=..., ...)     → Path: an endless zoom (a music video with audio=...)
    analyze_audio(source, fps=...)                → Envelopes: what audio reactions see, frame by frame
    RenderStopped                                 raised when a render's ``stop`` event ends it early

The render functions take ``progress=`` (``progress(done, total, preview=None)``; ``preview`` is the
frame just written), ``stop=`` (a :class:`threading.Event`: the render ends before its next frame, keeps
its checkpoint and raises :class:`RenderStopped`) and ``resume=`` (continue from that checkpoint, to the
same frames as a render never stopped). Errors a user can cause are :class:`dreamvid.errors.DreamvidError`
with a one-line message. Importing :mod:`dreamvid` is light: torch loads on first use of the API.

Example:
    >>> import dreamvid
    >>> dreamvid.load_config("classic", ["dream.steps=5"]).dream.steps
    5
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

__all__ = ["Config", "RenderStopped", "analyze_audio", "dream", "dream_image", "load_config", "render_video",
           "render_zoom"]

_HOMES = {"Config": "dreamvid.settings", "RenderStopped": "dreamvid.errors", "analyze_audio": "dreamvid.api",
          "dream": "dreamvid.api", "dream_image": "dreamvid.pipeline", "load_config": "dreamvid.config",
          "render_video": "dreamvid.pipeline", "render_zoom": "dreamvid.pipeline"}

if TYPE_CHECKING:
    from dreamvid.api import analyze_audio, dream
    from dreamvid.config import load_config
    from dreamvid.errors import RenderStopped
    from dreamvid.pipeline import dream_image, render_video, render_zoom
    from dreamvid.settings import Config


def __getattr__(name: str) -> object:
    """The API's names, imported on first use (so ``import dreamvid`` does not load torch)."""
    if name not in _HOMES:
        raise AttributeError(f"module 'dreamvid' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
