"""The browser studio (``dreamvid ui``): a Gradio page over the public API, one render at a time.

``(host, port, auth) → a local web app`` with tabs Picture, Video and Zoom loop. Each render runs in a
thread fed by the API's ``progress=`` callback and ``stop=`` event; the page shows frames done, frames/s,
ETA and the latest frame, and every render has an API name (``/dream_image``, ``/render_video``,
``/render_zoom``) for ``gradio_client``. The package is split by job:

    workspace  where files go (a folder per browser session under a ``dreamvid-ui`` temp root), who may
               connect (loopback, or a password), what the page may set
    forms      presets → pre-filled fields, fields → ``table.key=value`` overrides, presets as TOML
    jobs       a render in a thread → a stream of status lines and previews
    app        the page and its events

Importing :mod:`dreamvid` does not import this package; it needs Gradio (``pip install 'dreamvid[ui]'``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dreamvid.errors import ConfigError

if TYPE_CHECKING:
    import gradio

__all__ = ["build_app", "require_gradio", "serve"]


def require_gradio() -> None:
    """Raise a one-line :class:`ConfigError` with the install command when Gradio is missing."""
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise ConfigError("the studio needs Gradio, which is not installed: pip install 'dreamvid[ui]'") from None


def build_app(*, root: Path | None = None) -> gradio.Blocks:
    """The studio's Gradio Blocks, its files under ``root`` (default: a ``dreamvid-ui`` temp folder)."""
    require_gradio()
    from dreamvid.ui.app import build_app as build

    return build(root=root)


def serve(*, host: str = "127.0.0.1", port: int = 7860, auth: str | None = None, auth_file: Path | None = None,
          announce: Callable[[str], None] = print) -> None:
    """Serve the studio until interrupted (``dreamvid ui``); ``announce`` is given the address line.

    Raises:
        ConfigError: Gradio is missing; a host other than loopback without a password; a malformed password.
    """
    require_gradio()
    from dreamvid.ui.app import launch

    launch(host=host, port=port, auth=auth, auth_file=auth_file, announce=announce, block=True)
