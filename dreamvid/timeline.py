"""Settings frame by frame: ``Timeline(config, envelopes).at(frame) → FrameSettings``.

Schedules are evaluated first (:meth:`dreamvid.settings.Config.at`), then the audio reactions
(:mod:`dreamvid.react`) in order; whole-number settings are rounded by :meth:`Config.with_values`. This is
where the configuration ends: a frame step sees only the :class:`~dreamvid.settings.FrameSettings` made here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dreamvid.errors import ConfigError
from dreamvid.react import Reaction, parse_reaction
from dreamvid.settings import SCHEDULABLE, Config, FrameSettings

if TYPE_CHECKING:
    from dreamvid.audio import Envelopes


class Timeline:
    """The settings of every frame: schedules evaluated, then reactions applied.

    Args:
        config: the resolved configuration; ``config.audio.react`` lists the reactions.
        envelopes: the soundtrack's envelopes, one value per frame; needed when there are reactions.

    Raises:
        ConfigError: reactions without envelopes, or a reaction that cannot be evaluated.

    Example:
        >>> from dreamvid.config import load_config
        >>> Timeline(load_config("classic")).at(10).dream.objective
        'b10'
    """

    def __init__(self, config: Config, envelopes: Envelopes | None = None) -> None:
        self.config = config
        self.reactions: list[Reaction] = [parse_reaction(text, targets=SCHEDULABLE) for text in config.audio.react]
        if self.reactions and envelopes is None:
            raise ConfigError("audio.react needs a soundtrack: pass --audio FILE (or a video with sound), or "
                              "remove the reactions")
        self._values = [r.values(envelopes) for r in self.reactions] if envelopes is not None else []

    @property
    def moves(self) -> bool:
        """Whether the feedback transform moves at some frame (a ``[zoom]`` schedule or a reaction on it)."""
        return self.config.zoom.moves or any(r.key in ("zoom", "rotate", "shift_x", "shift_y")
                                             for r in self.reactions if r.table == "zoom")

    def config_at(self, frame: int) -> Config:
        """The whole configuration at ``frame`` (past the soundtrack's end, its last frame's reactions hold)."""
        config = self.config.at(frame)
        if not self.reactions:
            return config
        changes: dict[str, dict[str, object]] = {}
        for reaction, values in zip(self.reactions, self._values):
            value = float(values[min(frame, len(values) - 1)])
            table = changes.setdefault(reaction.table, {})
            current = table.get(reaction.key, getattr(getattr(config, reaction.table), reaction.key))
            # envelopes are float32: keep 7 significant digits so values (and messages) read as written
            table[reaction.key] = float(f"{reaction.apply(float(current), float(f'{value:.7g}')):.10g}")
        try:
            return config.with_values(changes)
        except ConfigError as exc:
            texts = "; ".join(r.text for r in self.reactions)
            raise ConfigError(f"{exc} at frame {frame}, from audio.react ({texts}); make the reaction smaller "
                              f"or the base value safer") from None

    def at(self, frame: int) -> FrameSettings:
        """The settings a step of ``frame`` sees."""
        return FrameSettings.of(self.config_at(frame))

    def check(self, frames: int) -> None:
        """Evaluate every frame once, so a reaction that leaves a setting's range fails before rendering."""
        if self.reactions:
            for frame in range(frames):
                self.config_at(frame)
