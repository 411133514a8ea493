"""The project's error types.

Every error a user can cause is a :class:`DreamvidError`; its message is one line saying what was wrong
and what to do. The CLI prints that line and exits non-zero; anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations


class DreamvidError(Exception):
    """Base class: a problem with the user's input, configuration or environment."""


class ConfigError(DreamvidError):
    """A preset, ``--set`` override or option value is malformed or out of range."""


class ModelError(DreamvidError):
    """An unknown model or layer, or weights that cannot be found or loaded."""


class ObjectiveError(DreamvidError):
    """A malformed objective string, or one naming an unknown layer, channel or class."""


class InputError(DreamvidError):
    """An input file that is missing, unreadable or not of the expected kind."""


class OutputError(DreamvidError):
    """An output path that cannot be written, or whose format is unknown."""


class CheckpointError(DreamvidError):
    """A checkpoint of an earlier render is in the way, does not match this render, or cannot be used."""


class RenderStopped(Exception):
    """A render ended early because its ``stop`` event was set; its checkpoint keeps every frame done.

    Not a :class:`DreamvidError`: nothing went wrong. Render again with ``resume=True`` to finish it.

    Attributes:
        frames_done: output frames the checkpoint holds.
    """

    def __init__(self, frames_done: int) -> None:
        super().__init__(f"the render was stopped after {frames_done} frames; resume it to finish")
        self.frames_done = frames_done
